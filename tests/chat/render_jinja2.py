#!/usr/bin/env python3
"""Renders every chat template x message shape with Jinja2 set up as Hugging Face transformers sets it
up for apply_chat_template, and writes the results as JSON for test_chat_conformance.

Usage: render_jinja2.py TEMPLATES_JSON SHAPES_JSON NPM_CACHE OUTPUT_JSON

The environment follows transformers' chat_template_utils (read, not copied): an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, the loopcontrols extension and a
`generation` block; tojson replaced by json.dumps(ensure_ascii=False, ...); the globals
raise_exception and strftime_now. render() gets messages, tools=None, documents=None,
add_generation_prompt, the tokenizer's special tokens as strings, then the extra keyword arguments.
strftime_now uses the fixed clock of SHAPES_JSON so that the three engines agree.
Exit status 77 (CTest's "skipped") when jinja2 is not installed.
"""
import datetime
import json
import sys

try:
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("render_jinja2: python3-jinja2 is not installed (apt install python3-jinja2); "
          "the Jinja2 side of the chat-template conformance test is skipped", file=sys.stderr)
    sys.exit(77)

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, __import__("os").path.dirname(__file__))
from template_sources import load_templates  # noqa: E402


class TemplateRaised(jinja2.exceptions.TemplateError):
    """raise_exception(message): transformers raises TemplateError; the subclass only marks it."""


class GenerationBlock(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: renders its body (transformers also records where)."""
    tags = {"generation"}

    def parse(self, parser):
        line = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(line)

    def _render_body(self, caller):
        return caller()


def make_environment(now_unix_seconds):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationBlock, jinja2.ext.loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise TemplateRaised(message)

    fixed_now = datetime.datetime.fromtimestamp(now_unix_seconds, tz=datetime.timezone.utc)

    def strftime_now(format):
        return fixed_now.strftime(format)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    templates_json, shapes_json, npm_cache, output_json = sys.argv[1:]
    with open(shapes_json, encoding="utf-8") as f:
        shapes = json.load(f)
    env = make_environment(shapes["now_unix_seconds"])
    results = {}
    for template in load_templates(templates_json, npm_cache):
        try:
            compiled = env.from_string(template["source"])
        except jinja2.exceptions.TemplateError as error:
            for shape in shapes["shapes"]:
                results[template["name"] + "/" + shape["name"]] = {"error": str(error), "raised": False}
            continue
        for shape in shapes["shapes"]:
            variables = {"messages": shape["messages"], "tools": None, "documents": None,
                         "add_generation_prompt": shape["add_generation_prompt"]}
            variables.update(template["special_tokens"])
            variables.update(shape.get("extra", {}))
            key = template["name"] + "/" + shape["name"]
            try:
                results[key] = {"output": compiled.render(**variables)}
            except TemplateRaised as raised:
                results[key] = {"error": str(raised), "raised": True}
            except Exception as error:  # any failure of the template is a result to compare
                results[key] = {"error": f"{type(error).__name__}: {error}", "raised": False}
    with open(output_json, "w", encoding="utf-8") as f:
        json.dump({"engine": f"jinja2 {jinja2.__version__} ({jinja2.__file__})", "results": results},
                  f, ensure_ascii=False, indent=1)
    print(f"render_jinja2: {len(results)} renders with jinja2 {jinja2.__version__} -> {output_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
