// The rows of test_chat_template (kept out of the Q_OBJECT file: moc does not parse raw strings).
// Expected texts are python3-jinja2 3.1.2's output in transformers' environment.
#include "test_chat_template_cases.h"

#include <QtTest>

void addRenderCases() {
    QTest::newRow("if-elif-else") << QStringLiteral(R"sp({% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %})sp")
        << QStringLiteral(R"sp({"x": 2})sp")
        << QStringLiteral(R"sp(two)sp");
    QTest::newRow("if-else-false") << QStringLiteral(R"sp({% if x %}yes{% else %}no{% endif %})sp")
        << QStringLiteral(R"sp({"x": ""})sp")
        << QStringLiteral(R"sp(no)sp");
    QTest::newRow("for-loop-variables") << QStringLiteral(R"sp({% for c in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(10TrueFalse332;21FalseFalse321;32FalseTrue310;)sp");
    QTest::newRow("for-else-empty") << QStringLiteral(R"sp({% for x in items %}{{ x }}{% else %}empty{% endfor %})sp")
        << QStringLiteral(R"sp({"items": []})sp")
        << QStringLiteral(R"sp(empty)sp");
    QTest::newRow("for-filter-condition") << QStringLiteral(R"sp({% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.length }} {% endfor %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(22 42 )sp");
    QTest::newRow("for-unpack-items") << QStringLiteral(R"sp({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %})sp")
        << QStringLiteral(R"sp({"d": {"b": 1, "a": 2}})sp")
        << QStringLiteral(R"sp(b=1;a=2;)sp");
    QTest::newRow("for-over-dict-keys") << QStringLiteral(R"sp({% for k in d %}{{ k }}{% endfor %})sp")
        << QStringLiteral(R"sp({"d": {"z": 1, "y": 2}})sp")
        << QStringLiteral(R"sp(zy)sp");
    QTest::newRow("for-over-string") << QStringLiteral(R"sp({% for ch in 'héj' %}[{{ ch }}]{% endfor %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp([h][é][j])sp");
    QTest::newRow("for-previtem-nextitem-cycle") << QStringLiteral(R"sp({% for x in [1,2,3] %}{{ loop.previtem is defined }}{{ loop.nextitem|default('-') }}{{ loop.cycle('a','b') }} {% endfor %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(False2a True3b True-a )sp");
    QTest::newRow("nested-loop-scopes") << QStringLiteral(R"sp({% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(113 214 1|123 224 2|)sp");
    QTest::newRow("loop-scope-does-not-leak") << QStringLiteral(R"sp({% set c = 0 %}{% for i in [1,2,3] %}{% set c = c + i %}{{ c }}{% endfor %}/{{ c }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(123/0)sp");
    QTest::newRow("break-continue") << QStringLiteral(R"sp({% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}{{ i }}{% endfor %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(0134)sp");
    QTest::newRow("set-and-tuple-unpack") << QStringLiteral(R"sp({% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1,) %}{{ t }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(12(1,))sp");
    QTest::newRow("block-set") << QStringLiteral(R"sp({% set text %}Hello {{ name }}!{% endset %}[{{ text }}])sp")
        << QStringLiteral(R"sp({"name": "Ann"})sp")
        << QStringLiteral(R"sp([Hello Ann!])sp");
    QTest::newRow("block-set-filtered") << QStringLiteral(R"sp({% set text | upper %}abc {{ 1 + 1 }}{% endset %}{{ text }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(ABC 2)sp");
    QTest::newRow("namespace") << QStringLiteral(R"sp({% set ns = namespace(found=false, n=0) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(True 6)sp");
    QTest::newRow("macro-defaults-kwargs") << QStringLiteral(R"sp({% macro greet(name, greeting='Hi') %}{{ greeting }}, {{ name }}{{ kwargs.get('p', '.') }}{% endmacro %}{{ greet('Bo') }} {{ greet('Al', greeting='Yo', p='!') }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(Hi, Bo. Yo, Al!)sp");
    QTest::newRow("macro-varargs") << QStringLiteral(R"sp({% macro m(a) %}{{ a }}{{ varargs|join(',') }}{% endmacro %}{{ m(1, 2, 3) }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(12,3)sp");
    QTest::newRow("macro-recursive") << QStringLiteral(R"sp({% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(120)sp");
    QTest::newRow("call-block") << QStringLiteral(R"sp({% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 }}{% endcall %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(<b>bold 1</b>)sp");
    QTest::newRow("call-block-arguments") << QStringLiteral(R"sp({% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1,2]) %}<{{ x }}>{% endcall %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(<1><2>)sp");
    QTest::newRow("filter-block") << QStringLiteral(R"sp({% filter upper %}abc{{ 'd' }}{% endfilter %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(ABCD)sp");
    QTest::newRow("generation-block") << QStringLiteral(R"sp(A{% generation %}gen {{ x }}{% endgeneration %}B)sp")
        << QStringLiteral(R"sp({"x": 1})sp")
        << QStringLiteral(R"sp(Agen 1B)sp");
    QTest::newRow("comments") << QStringLiteral(R"sp(a{# a comment #}b{#- trimmed -#}  c)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(abc)sp");
    QTest::newRow("raw-block") << QStringLiteral(R"sp({% raw %}{{ not evaluated }}{% endraw %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp({{ not evaluated }})sp");
    QTest::newRow("trim-blocks") << QStringLiteral(R"sp({% if true %}
line
{% endif %}
end)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(line
end)sp");
    QTest::newRow("lstrip-blocks") << QStringLiteral(R"sp(  {% if true %}
  x
  {% endif %}
y)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(  x
y)sp");
    QTest::newRow("dash-whitespace-control") << QStringLiteral(R"sp(a  
  {{- 'b' -}}  
  c {%- if true %} d{% endif -%}   e)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(abc de)sp");
    QTest::newRow("plus-disables-lstrip") << QStringLiteral(R"sp(  {%+ if true %}x{% endif %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(  x)sp");
    QTest::newRow("trailing-newline-dropped") << QStringLiteral(R"sp(text
)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(text)sp");
    QTest::newRow("crlf-normalized") << QStringLiteral(R"sp(a
b{% if true %}
c{% endif %})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(a
bc)sp");
    QTest::newRow("expression-tag-keeps-newline") << QStringLiteral(R"sp({{ 'a' }}
b)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(a
b)sp");
    QTest::newRow("comment-trims-newline") << QStringLiteral(R"sp({# c #}
x)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(x)sp");
    QTest::newRow("literals") << QStringLiteral(R"sp({{ 'it''s' }} {{ "q" }} {{ 42 }} {{ 1_000 }} {{ 2.5 }} {{ 1e3 }} {{ [1, 'a', none, true] }} {{ {'k': [1, {'n': False}]} }} {{ (1, 2) }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(its q 42 1000 2.5 1000.0 [1, 'a', None, True] {'k': [1, {'n': False}]} (1, 2))sp");
    QTest::newRow("string-escapes") << QStringLiteral(R"sp({{ 'a\tb\nc\\d\'e\u00e9\x41' }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(a	b
c\d'eéA)sp");
    QTest::newRow("arithmetic") << QStringLiteral(R"sp({{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 1 + 2 * 3 - 4 }} {{ 0.1 + 0.2 }} {{ -(3) }} {{ 1.5 * 2 }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(3 -4 1 2 1024 3.5 2.0 3 0.30000000000000004 -3 3.0)sp");
    QTest::newRow("string-concat-and-repeat") << QStringLiteral(R"sp({{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' + 'cd' }} {{ 'xy' * 3 }} {{ [1] + [2] }} {{ undefined_name ~ 'z' }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(a1NoneTrue abcd xyxyxy [1, 2] z)sp");
    QTest::newRow("comparisons") << QStringLiteral(R"sp({{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 'abc' < 'abd' }} {{ [1,2] == [1,2] }} {{ 3 >= 4 }} {{ none == none }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(True True True True True False True)sp");
    QTest::newRow("in-not-in") << QStringLiteral(R"sp({{ 'b' in 'abc' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 3 not in [1] }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(True True True True True)sp");
    QTest::newRow("and-or-not") << QStringLiteral(R"sp({{ true and 'x' }} {{ '' or 'fallback' }} {{ not none }} {{ 0 and 1 }} {{ none or 0 }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(x fallback True 0 0)sp");
    QTest::newRow("inline-if") << QStringLiteral(R"sp({{ 'yes' if x else 'no' }} {{ 'only' if false }}|{{ 'a' if x and y else 'b' if x else 'c' }})sp")
        << QStringLiteral(R"sp({"x": true, "y": false})sp")
        << QStringLiteral(R"sp(yes |b)sp");
    QTest::newRow("attribute-and-subscript") << QStringLiteral(R"sp({{ m.role }} {{ m['content'] }} {{ m.missing is defined }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} {{ m.get('role') }} {{ m.get('x', 'dflt') }})sp")
        << QStringLiteral(R"sp({"m": {"role": "user", "content": "hi"}, "l": [10, 20, 30]})sp")
        << QStringLiteral(R"sp(user hi False 10 30 20 user dflt)sp");
    QTest::newRow("slicing") << QStringLiteral(R"sp({{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ 'héllo'[1:3] }} {{ 'abc'[::-1] }} {{ l[5:] }} {{ l[1:-1] }})sp")
        << QStringLiteral(R"sp({"l": [1, 2, 3, 4]})sp")
        << QStringLiteral(R"sp([2, 3, 4] [1, 2] [4, 3, 2, 1] [1, 3] [3, 4] él cba [] [2, 3])sp");
    QTest::newRow("unicode-length-and-index") << QStringLiteral(R"sp({{ 'héllo wörld'|length }} {{ 'ñ'[0] }} {{ '😀x'|length }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(11 ñ 2)sp");
    QTest::newRow("python-str-of-values") << QStringLiteral(R"sp({{ none }} {{ true }} {{ 1.0 }} {{ 1e16 }} {{ 1e-5 }} {{ 123456789.0 }} {{ [1.5, 'it\'s', {'a': none}] }} {{ undefined_name }}|)sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(None True 1.0 1e+16 1e-05 123456789.0 [1.5, "it's", {'a': None}] |)sp");
    QTest::newRow("operator-precedence") << QStringLiteral(R"sp({{ (1 + 2) ~ 3 * 2 }} {{ not 1 == 2 }} {{ -2 ** 2 }} {{ (1 + 2) * 3 }} {{ 2 * 3 ** 2 }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(36 True 4 9 18)sp");
    QTest::newRow("filter-binds-tighter-than-minus") << QStringLiteral(R"sp({{ -1|abs }} {{ 'a b'|upper ~ 'c' }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(1 A Bc)sp");
    QTest::newRow("tests-types") << QStringLiteral(R"sp({{ x is defined }}{{ y is undefined }}{{ n is none }}{{ s is string }}{{ 1 is number }}{{ 1.5 is number }}{{ d is mapping }}{{ l is iterable }}{{ s is iterable }}{{ l is sequence }}{{ true is true }}{{ false is false }}{{ 1 is true }})sp")
        << QStringLiteral(R"sp({"x": 1, "n": null, "s": "a", "d": {}, "l": [1]})sp")
        << QStringLiteral(R"sp(TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueFalse)sp");
    QTest::newRow("tests-negated-and-args") << QStringLiteral(R"sp({{ x is not none }} {{ 4 is divisibleby 2 }} {{ 3 is odd }} {{ x is eq 1 }} {{ 'a' is in 'abc' }} {{ 5 is gt 2 }} {{ n is sameas none }} {{ 'abc' is lower }} {{ 'ABC' is upper }})sp")
        << QStringLiteral(R"sp({"x": 1, "n": null})sp")
        << QStringLiteral(R"sp(True True True True True True True True True)sp");
    QTest::newRow("tests-integer-float-boolean") << QStringLiteral(R"sp({{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ d is mapping }} {{ s is mapping }})sp")
        << QStringLiteral(R"sp({"d": {"a": 1}, "s": "x"})sp")
        << QStringLiteral(R"sp(True True True True False)sp");
    QTest::newRow("filter-trim") << QStringLiteral(R"sp([{{ '  a b \n'|trim }}] [{{ 'xxaxx'|trim('x') }}])sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp([a b] [a])sp");
    QTest::newRow("filter-tojson") << QStringLiteral(R"sp({{ d|tojson }} {{ l|tojson }} {{ 'é"\n<>&'|tojson }} {{ 1.0|tojson }} {{ none|tojson }})sp")
        << QStringLiteral(R"sp({"d": {"b": [1, 2.5, true, null], "a": "x"}, "l": []})sp")
        << QStringLiteral(R"sp({"b": [1, 2.5, true, null], "a": "x"} [] "é\"\n<>&" 1.0 null)sp");
    QTest::newRow("filter-tojson-indent") << QStringLiteral(R"sp({{ d|tojson(indent=2) }}|{{ d|tojson(indent=0) }}|{{ []|tojson(indent=2) }}|{{ {}|tojson(indent=4) }})sp")
        << QStringLiteral(R"sp({"d": {"k": [1, {"n": "v"}], "e": {}}})sp")
        << QStringLiteral(R"sp({
  "k": [
    1,
    {
      "n": "v"
    }
  ],
  "e": {}
}|{
"k": [
1,
{
"n": "v"
}
],
"e": {}
}|[]|{})sp");
    QTest::newRow("filter-tojson-options") << QStringLiteral(R"sp({{ d|tojson(separators=(',', ':')) }} {{ d|tojson(sort_keys=true) }} {{ 'é'|tojson(ensure_ascii=true) }})sp")
        << QStringLiteral(R"sp({"d": {"b": 1, "a": [1, 2]}})sp")
        << QStringLiteral(R"sp({"b":1,"a":[1,2]} {"a": [1, 2], "b": 1} "\u00e9")sp");
    QTest::newRow("filter-length-count") << QStringLiteral(R"sp({{ [1,2]|length }} {{ 'abc'|count }} {{ {'a':1}|length }} {{ undefined_name|length }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(2 3 1 0)sp");
    QTest::newRow("filter-items") << QStringLiteral(R"sp({% for k, v in d|items %}{{ k }}{{ v }}{% endfor %})sp")
        << QStringLiteral(R"sp({"d": {"x": 1, "y": 2}})sp")
        << QStringLiteral(R"sp(x1y2)sp");
    QTest::newRow("filter-first-last") << QStringLiteral(R"sp({{ [1,2,3]|first }} {{ [1,2,3]|last }} {{ 'abc'|first }} {{ []|first is defined }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(1 3 a False)sp");
    QTest::newRow("filter-join") << QStringLiteral(R"sp({{ [1,2,3]|join(', ') }} {{ ['a','b']|join }} {{ users|join('/', attribute='name') }})sp")
        << QStringLiteral(R"sp({"users": [{"name": "a"}, {"name": "b"}]})sp")
        << QStringLiteral(R"sp(1, 2, 3 ab a/b)sp");
    QTest::newRow("filter-case") << QStringLiteral(R"sp({{ 'Hello World'|lower }} {{ 'straße'|upper }} {{ 'hELLO wORLD'|capitalize }} {{ 'hello big-world (x)'|title }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(hello world STRASSE Hello world Hello Big-World (X))sp");
    QTest::newRow("filter-replace") << QStringLiteral(R"sp({{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(bbb bba -a-b-c-)sp");
    QTest::newRow("filter-default") << QStringLiteral(R"sp({{ missing|default('d') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ missing|d('short') }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(d  e None short)sp");
    QTest::newRow("filter-list-string") << QStringLiteral(R"sp({{ 'ab'|list }} {{ 12|string ~ 'x' }} {{ d|list }})sp")
        << QStringLiteral(R"sp({"d": {"k": 1, "j": 2}})sp")
        << QStringLiteral(R"sp(['a', 'b'] 12x ['k', 'j'])sp");
    QTest::newRow("filter-int-float") << QStringLiteral(R"sp({{ '42'|int }} {{ '3.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 3|float }} {{ 'n'|float }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(42 3 0 7 3 2.5 3.0 0.0)sp");
    QTest::newRow("filter-selectattr-rejectattr") << QStringLiteral(R"sp({{ ms|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} {{ ms|rejectattr('role', 'eq', 'user')|list|length }} {{ ms|selectattr('flag')|list|length }})sp")
        << QStringLiteral(R"sp({"ms": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "flag": true}, {"role": "user", "content": "c"}]})sp")
        << QStringLiteral(R"sp(a,c 1 1)sp");
    QTest::newRow("filter-map") << QStringLiteral(R"sp({{ ['a','B']|map('upper')|list }} {{ ms|map(attribute='n')|sum }} {{ ms|map(attribute='x', default='-')|join }} {{ [' a ']|map('trim')|first }})sp")
        << QStringLiteral(R"sp({"ms": [{"n": 1}, {"n": 2}]})sp")
        << QStringLiteral(R"sp(['A', 'B'] 3 -- a)sp");
    QTest::newRow("filter-unique") << QStringLiteral(R"sp({{ ['a','A','b','a']|unique|list }} {{ ['a','A']|unique(case_sensitive=true)|list }} {{ [1,2,1]|unique|list }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(['a', 'b'] ['a', 'A'] [1, 2])sp");
    QTest::newRow("filter-safe-escape") << QStringLiteral(R"sp({{ '<b>'|safe }} {{ '<a href="x">&'|escape }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(<b> &lt;a href=&#34;x&#34;&gt;&amp;)sp");
    QTest::newRow("filter-misc") << QStringLiteral(R"sp({{ -3|abs }} {{ 2.567|round(1) }} {{ 2.5|round }} {{ [3,1,2]|sort }} {{ [3,1,2]|sort(reverse=true) }} {{ [1,2]|sum }} {{ [4,2,8]|min }} {{ [4,2,8]|max }} {{ 'abc'|reverse }} {{ [1,2]|reverse|list }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(3 2.6 2.0 [1, 2, 3] [3, 2, 1] 3 2 8 cba [2, 1])sp");
    QTest::newRow("filter-indent") << QStringLiteral(R"sp({{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'x\n\ny'|indent(1, blank=true) }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(a
  b

  c|  a
  b|x
 
 y)sp");
    QTest::newRow("filter-dictsort-sort-attribute") << QStringLiteral(R"sp({{ d|dictsort }} {{ us|sort(attribute='age')|map(attribute='n')|join }})sp")
        << QStringLiteral(R"sp({"d": {"b": 1, "A": 2, "c": 0}, "us": [{"n": "x", "age": 3}, {"n": "y", "age": 1}]})sp")
        << QStringLiteral(R"sp([('A', 2), ('b', 1), ('c', 0)] yx)sp");
    QTest::newRow("filter-wordcount-center-format") << QStringLiteral(R"sp({{ 'one two  three'|wordcount }} [{{ 'ab'|center(6) }}] {{ '%s-%d'|format('x', 3) }} {{ '%s!' % 'hi' }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(3 [  ab  ] x-3 hi!)sp");
    QTest::newRow("filter-batch-attr") << QStringLiteral(R"sp({{ [1,2,3]|batch(2)|list }} {{ [1,2,3]|batch(2, 0)|list }} {{ d|attr('get') is defined }})sp")
        << QStringLiteral(R"sp({"d": {}})sp")
        << QStringLiteral(R"sp([[1, 2], [3]] [[1, 2], [3, 0]] True)sp");
    QTest::newRow("method-startswith-endswith") << QStringLiteral(R"sp({{ s.startswith('he') }} {{ s.endswith('lo') }} {{ s.startswith(('x', 'h')) }} {{ s.endswith('x') }} {{ s.startswith('l', 2) }})sp")
        << QStringLiteral(R"sp({"s": "hello"})sp")
        << QStringLiteral(R"sp(True True True False True)sp");
    QTest::newRow("method-split") << QStringLiteral(R"sp({{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a-b-c'.rsplit('-', 1) }} {{ '<think>x</think>y'.split('</think>')[-1] }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a-b', 'c'] y)sp");
    QTest::newRow("method-strip") << QStringLiteral(R"sp([{{ '  x  '.strip() }}] [{{ '\n x'.lstrip() }}] [{{ 'x \n'.rstrip() }}] [{{ 'abcxa'.strip('ax') }}] [{{ '\u00a0y\u3000'.strip() }}])sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp([x] [x] [x] [bc] [y])sp");
    QTest::newRow("method-case-replace") << QStringLiteral(R"sp({{ 'AbC'.lower() }} {{ 'abc'.upper() }} {{ 'aXa'.replace('a', 'b') }} {{ 'hello wORLD'.title() }} {{ 'xyz'.capitalize() }} {{ 'a1b2'.title() }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(abc ABC bXb Hello World Xyz A1B2)sp");
    QTest::newRow("method-dict") << QStringLiteral(R"sp({{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }})sp")
        << QStringLiteral(R"sp({"d": {"a": 1, "b": [2]}})sp")
        << QStringLiteral(R"sp([('a', 1), ('b', [2])] ['a', 'b'] [1, [2]] 1 None 0)sp");
    QTest::newRow("method-string-misc") << QStringLiteral(R"sp({{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'aXbXc'.count('X') }} {{ '-'.join(['a', 'b']) }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'a\nb'.splitlines() }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(2 -1 2 a-b True True ['a', 'b'])sp");
    QTest::newRow("python-corners") << QStringLiteral(R"sp({{ 2|round }} {{ true|abs }} {{ u is callable }} {{ 'a' in u }} {{ none|select|list }} {{ [u, none] }} {{ 1e3 is even }} {{ 4.5 is divisibleby 1.5 }} {{ 'abc' % [] }} {{ (3)[1:] is defined }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(2 1 True False [] [Undefined, None] True True abc False)sp");
    QTest::newRow("range-and-dict") << QStringLiteral(R"sp({{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }} {{ dict(a=1, b='x') }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp([0, 1, 2] [1, 3, 5] [3, 2, 1] {'a': 1, 'b': 'x'})sp");
    QTest::newRow("strftime-now-fixed-clock") << QStringLiteral(R"sp({{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%d %b %Y') }} {{ strftime_now('%A %B %j %y %I%p') }})sp")
        << QStringLiteral(R"sp({})sp")
        << QStringLiteral(R"sp(2025-03-14 12:00:00 14 Mar 2025 Friday March 073 25 12PM)sp");
    QTest::newRow("chat-like-template") << QStringLiteral(R"sp({{ bos_token }}{% for m in messages %}{% if loop.first and m.role != 'system' %}<|system|>default
{% endif %}<|{{ m.role }}|>{{ m.content|trim }}{{ eos_token }}
{% endfor %}{% if add_generation_prompt %}<|assistant|>
{% endif %})sp")
        << QStringLiteral(R"sp({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": " Hi "}, {"role": "assistant", "content": "Hello"}]})sp")
        << QStringLiteral(R"sp(<s><|system|>default
<|user|>Hi</s>
<|assistant|>Hello</s>
<|assistant|>
)sp");
}

void addRenderErrorCases() {
    QTest::newRow("raise-exception") << QStringLiteral(R"sp(line one
{{ raise_exception('Roles must alternate, got ' ~ role) }})sp") << QStringLiteral(R"sp({"role": "system"})sp")
        << QStringLiteral("raise_exception") << 2 << 4 << QStringLiteral(R"sp(Roles must alternate, got system)sp");
    QTest::newRow("undefined-attribute") << QStringLiteral(R"sp(ok
  {{ missing.attr }})sp") << QStringLiteral(R"sp({})sp")
        << QStringLiteral("attribute 'attr'") << 2 << 13 << QString();
    QTest::newRow("unknown-filter") << QStringLiteral(R"sp({{ x|nosuchfilter }})sp") << QStringLiteral(R"sp({"x": 1})sp")
        << QStringLiteral("filter 'nosuchfilter'") << 1 << 6 << QString();
    QTest::newRow("unknown-test") << QStringLiteral(R"sp({% if x is nosuchtest %}{% endif %})sp") << QStringLiteral(R"sp({"x": 1})sp")
        << QStringLiteral("test 'nosuchtest'") << 1 << 9 << QString();
    QTest::newRow("type-error-add") << QStringLiteral(R"sp({{ 'a' + 1 }})sp") << QStringLiteral(R"sp({})sp")
        << QStringLiteral("operator '+'") << 1 << 8 << QString();
    QTest::newRow("division-by-zero") << QStringLiteral(R"sp(

{{ 1 // 0 }})sp") << QStringLiteral(R"sp({})sp")
        << QStringLiteral("operator '//'") << 3 << 6 << QString();
    QTest::newRow("iterate-none") << QStringLiteral(R"sp({% for x in n %}{% endfor %})sp") << QStringLiteral(R"sp({"n": null})sp")
        << QStringLiteral("for") << 1 << 13 << QString();
    QTest::newRow("call-non-callable") << QStringLiteral(R"sp({{ s() }})sp") << QStringLiteral(R"sp({"s": "x"})sp")
        << QStringLiteral("call") << 1 << 4 << QString();
    QTest::newRow("set-attribute-on-dict") << QStringLiteral(R"sp({% set d = {} %}{% set d.x = 1 %})sp") << QStringLiteral(R"sp({})sp")
        << QStringLiteral("set") << 1 << 20 << QString();
    QTest::newRow("unsafe-list-append") << QStringLiteral(R"sp({% set l = [] %}{{ l.append(1) }})sp") << QStringLiteral(R"sp({})sp")
        << QStringLiteral("attribute 'append'") << 1 << 21 << QString();
}

void addSyntaxErrorCases() {
    QTest::newRow("unclosed-if") << QStringLiteral(R"sp({% if x %}
open)sp") << QStringLiteral("if") << 2 << 5;
    QTest::newRow("unclosed-expression") << QStringLiteral(R"sp(a {{ x )sp") << QStringLiteral("expression") << 1 << 3;
    QTest::newRow("bad-token") << QStringLiteral(R"sp({{ x $ y }})sp") << QStringLiteral("expression") << 1 << 6;
    QTest::newRow("stray-endfor") << QStringLiteral(R"sp({% endfor %})sp") << QStringLiteral("endfor") << 1 << 4;
    QTest::newRow("unterminated-string") << QStringLiteral(R"sp({{ 'abc }})sp") << QStringLiteral("string literal") << 1 << 4;
    QTest::newRow("unterminated-comment") << QStringLiteral(R"sp(x {# never closed)sp") << QStringLiteral("comment") << 1 << 3;
    QTest::newRow("missing-in") << QStringLiteral(R"sp({% for x y %}{% endfor %})sp") << QStringLiteral("for") << 1 << 10;
    QTest::newRow("unknown-statement") << QStringLiteral(R"sp(
 {% frobnicate %})sp") << QStringLiteral("frobnicate") << 2 << 5;
    QTest::newRow("break-outside-loop") << QStringLiteral(R"sp({% break %})sp") << QStringLiteral("break") << 1 << 4;
    QTest::newRow("include-not-available") << QStringLiteral(R"sp({% include 'x' %})sp") << QStringLiteral("include") << 1 << 4;
}
