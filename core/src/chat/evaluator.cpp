#include "chat/evaluator.h"

#include <cmath>
#include <memory>

namespace sp::chat {
namespace {

struct Frame {
    std::vector<std::pair<std::string, Value>> variables;
    std::shared_ptr<Frame> parent;

    const Value* lookup(const std::string& name) const {
        for (const Frame* f = this; f; f = f->parent.get())
            for (const auto& [key, value] : f->variables)
                if (key == name) return &value;
        return nullptr;
    }
    void set(const std::string& name, Value value) {
        for (auto& entry : variables)
            if (entry.first == name) {
                entry.second = std::move(value);
                return;
            }
        variables.emplace_back(name, std::move(value));
    }
};
using FramePtr = std::shared_ptr<Frame>;

enum class Flow { Normal, Break, Continue };

// A failure already carrying its position: passes through the handlers of enclosing nodes.
struct Positioned {
    ChatTemplateError error;
};

class Evaluator {
public:
    Evaluator(const Template& tmpl, const ChatTemplateLimits& limits, std::optional<std::int64_t> now)
        : tmpl_(tmpl), limits_(limits) {
        builtinLimits_.maxStringBytes = limits.maxOutputBytes;
        builtinLimits_.maxRange = limits.maxRange;
        builtinLimits_.nowUnixSeconds = now;
    }

    std::string run(const std::vector<std::pair<std::string, Value>>& variables) {
        auto globals = std::make_shared<Frame>();
        for (auto& g : makeGlobals(builtinLimits_)) globals->set(g.first, std::move(g.second));
        auto top = std::make_shared<Frame>();
        top->parent = globals;
        for (const auto& v : variables) top->set(v.first, v.second);
        std::string out;
        try {
            execBody(tmpl_.body, top, out);
        } catch (Positioned& p) {
            throw p.error;
        }
        return out;
    }

private:
    // ---- errors and limits --------------------------------------------------------------------
    [[noreturn]] void fail(const Position& at, const std::string& construct, const std::string& message, bool raised = false) {
        throw Positioned{ChatTemplateError(tmpl_.name, at.line, at.column, construct, message, raised)};
    }

    void step(const Position& at, const char* construct) {
        if (++steps_ > limits_.maxSteps)
            fail(at, construct, "the template ran more than " + std::to_string(limits_.maxSteps) +
                                    " steps; it is probably stuck in a runaway loop");
    }

    void append(std::string& out, const std::string& text, const Position& at, const char* construct) {
        out += text;
        if (out.size() > limits_.maxOutputBytes)
            fail(at, construct, "the rendered text is larger than " + std::to_string(limits_.maxOutputBytes >> 20) + " MiB");
    }

    struct DepthGuard {
        DepthGuard(Evaluator& e, const Position& at, const char* construct) : ev(e) {
            if (++ev.depth_ > kMaxDepth) ev.fail(at, construct, "the template nests too deeply (recursion without end?)");
        }
        ~DepthGuard() { --ev.depth_; }
        Evaluator& ev;
    };
    static constexpr int kMaxDepth = 1500;

    static std::string constructOf(const Expr& e) {
        switch (e.kind) {
        case Expr::Kind::Name: return "variable '" + e.name + "'";
        case Expr::Kind::GetAttr: return "attribute '" + e.name + "'";
        case Expr::Kind::GetItem: return "subscript";
        case Expr::Kind::Slice: return "slice";
        case Expr::Kind::Call: return "call";
        case Expr::Kind::Filter: return "filter '" + e.name + "'";
        case Expr::Kind::Test: return "test '" + e.name + "'";
        case Expr::Kind::Binary: return "operator '" + e.name + "'";
        case Expr::Kind::Compare: return "comparison";
        case Expr::Kind::Negate: return "operator '-'";
        default: return "expression";
        }
    }

    // ---- statements ---------------------------------------------------------------------------
    Flow execBody(const Body& body, const FramePtr& frame, std::string& out) {
        for (const auto& stmt : body) {
            Flow flow = exec(*stmt, frame, out);
            if (flow != Flow::Normal) return flow;
        }
        return Flow::Normal;
    }

    Flow exec(const Stmt& s, const FramePtr& frame, std::string& out) {
        DepthGuard guard(*this, s.position, "block");
        step(s.position, "statement");
        switch (s.kind) {
        case Stmt::Kind::Text: append(out, s.text, s.position, "text"); return Flow::Normal;
        case Stmt::Kind::Output: {
            Value v = eval(*s.expression, frame);
            append(out, toStr(v), s.position, "output");
            return Flow::Normal;
        }
        case Stmt::Kind::If:
            for (std::size_t i = 0; i < s.conditions.size(); ++i)
                if (truthy(eval(*s.conditions[i], frame))) return execBody(s.bodies[i], frame, out);
            return execBody(s.elseBody, frame, out);
        case Stmt::Kind::For: return execFor(s, frame, out);
        case Stmt::Kind::Set: {
            Value v = eval(*s.expression, frame);
            if (s.attributeTarget) {
                const Value* target = frame->lookup(s.targets[0]);
                if (!target || !target->isObject() || target->dict->find(Value::from("__loop__")))
                    fail(s.position, "set", "can only assign an attribute ('" + s.targets[0] + "." + s.name +
                                                "') on a namespace(): create it with {% set " + s.targets[0] + " = namespace() %}");
                target->dict->set(Value::from(s.name), std::move(v));
                return Flow::Normal;
            }
            assign(s.targets, v, frame, s.position, "set");
            return Flow::Normal;
        }
        case Stmt::Kind::SetBlock: {
            std::string captured;
            execBody(s.body, frame, captured);
            Value v = Value::from(std::move(captured));
            if (s.expression) v = evalFilterChain(*s.expression, frame, v);
            frame->set(s.targets[0], std::move(v));
            return Flow::Normal;
        }
        case Stmt::Kind::Macro: frame->set(s.name, makeMacro(s, frame)); return Flow::Normal;
        case Stmt::Kind::CallBlock: return execCallBlock(s, frame, out);
        case Stmt::Kind::FilterBlock: {
            std::string captured;
            Flow flow = execBody(s.body, frame, captured);
            Value v = evalFilterChain(*s.expression, frame, Value::from(std::move(captured)));
            append(out, toStr(v), s.position, "filter");
            return flow;
        }
        case Stmt::Kind::Break: return Flow::Break;
        case Stmt::Kind::Continue: return Flow::Continue;
        case Stmt::Kind::Generation: return execBody(s.body, frame, out);
        }
        return Flow::Normal;
    }

    void assign(const std::vector<std::string>& targets, const Value& v, const FramePtr& frame, const Position& at,
                const char* construct) {
        if (targets.size() == 1) {
            frame->set(targets[0], v);
            return;
        }
        std::vector<Value> items;
        try {
            items = iterate(v);
        } catch (const ValueError& e) {
            fail(at, construct, "cannot unpack: " + e.message);
        }
        if (items.size() != targets.size())
            fail(at, construct, "cannot unpack " + std::to_string(items.size()) + " value(s) into " +
                                    std::to_string(targets.size()) + " names");
        for (std::size_t i = 0; i < targets.size(); ++i) frame->set(targets[i], items[i]);
    }

    Flow execFor(const Stmt& s, const FramePtr& frame, std::string& out) {
        Value iterable = eval(*s.expression, frame);
        std::vector<Value> items;
        try {
            items = iterate(iterable);
        } catch (const ValueError& e) {
            fail(s.expression->position, "for", e.message);
        }
        if (s.recursive) fail(s.position, "for", "recursive loops are not supported");
        if (s.condition) {
            std::vector<Value> kept;
            for (const auto& item : items) {
                step(s.position, "for");
                auto filterFrame = std::make_shared<Frame>();
                filterFrame->parent = frame;
                assign(s.targets, item, filterFrame, s.position, "for");
                if (truthy(eval(*s.condition, filterFrame))) kept.push_back(item);
            }
            items = std::move(kept);
        }
        if (items.empty()) {
            if (s.hasElse) return execBody(s.elseBody, frame, out) == Flow::Normal ? Flow::Normal : Flow::Normal;
            return Flow::Normal;
        }
        const std::int64_t n = static_cast<std::int64_t>(items.size());
        // One loop.cycle per loop; it reads the current index (loop objects do not outlive their loop).
        auto cycleIndexHolder = std::make_shared<std::size_t>(0);
        std::size_t& cycleIndex = *cycleIndexHolder;
        Value cycle = Value::makeCallable("loop.cycle", [cycleIndexHolder](CallArgs& a) {
            if (a.positional.empty()) throw ValueError{"no items for cycling given"};
            return a.positional[*cycleIndexHolder % a.positional.size()];
        });
        for (std::int64_t i = 0; i < n; ++i) {
            step(s.position, "for");
            auto iteration = std::make_shared<Frame>();
            iteration->parent = frame;
            Value loop = Value::makeObject();
            auto& entries = loop.dict->entries; // built directly: no key lookups per iteration
            entries.reserve(13);
            auto put = [&entries](const char* key, Value value) { entries.emplace_back(Value::from(key), std::move(value)); };
            put("index", Value::from(i + 1));
            put("index0", Value::from(i));
            put("revindex", Value::from(n - i));
            put("revindex0", Value::from(n - i - 1));
            put("first", Value::from(i == 0));
            put("last", Value::from(i == n - 1));
            put("length", Value::from(n));
            put("depth", Value::from(std::int64_t(1)));
            put("depth0", Value::from(std::int64_t(0)));
            put("previtem", i > 0 ? items[static_cast<std::size_t>(i - 1)] : Value::undefined("there is no previous item"));
            put("nextitem", i + 1 < n ? items[static_cast<std::size_t>(i + 1)] : Value::undefined("there is no next item"));
            put("__loop__", Value::from(true));
            put("cycle", cycle);
            cycleIndex = static_cast<std::size_t>(i);
            iteration->set("loop", loop);
            assign(s.targets, items[static_cast<std::size_t>(i)], iteration, s.position, "for");
            Flow flow = execBody(s.body, iteration, out);
            if (flow == Flow::Break) break;
        }
        return Flow::Normal;
    }

    Value makeMacro(const Stmt& s, const FramePtr& definedIn) {
        const Stmt* macro = &s;
        std::weak_ptr<Frame> weakFrame = definedIn;
        // The defining frame is held weakly by the value stored in it (no reference cycle); a macro
        // called after its frame is gone (only possible by storing it outside) sees the globals.
        FramePtr globalsOnly = definedIn;
        while (globalsOnly->parent) globalsOnly = globalsOnly->parent;
        return Value::makeCallable(s.name, [this, macro, weakFrame, globalsOnly](CallArgs& a) {
            FramePtr parent = weakFrame.lock();
            return callMacro(*macro, parent ? parent : globalsOnly, a, nullptr);
        });
    }

    Value callMacro(const Stmt& macro, const FramePtr& parent, CallArgs& a, const Value* caller) {
        if (++callDepth_ > limits_.maxCallDepth) {
            --callDepth_;
            throw ValueError{"macro calls nest more than " + std::to_string(limits_.maxCallDepth) + " deep (recursion without end?)"};
        }
        struct Release {
            int& depth;
            ~Release() { --depth; }
        } release{callDepth_};
        auto frame = std::make_shared<Frame>();
        frame->parent = parent;
        const auto& params = macro.parameters;
        std::vector<Value> extraPositional;
        for (std::size_t i = 0; i < a.positional.size(); ++i) {
            if (i < params.size()) frame->set(params[i].name, a.positional[i]);
            else extraPositional.push_back(a.positional[i]);
        }
        Value extraKeywords = Value::makeDict();
        const Value* callerArgument = caller;
        for (const auto& [key, value] : a.keyword) {
            if (key == "caller" && value.isCallable()) { // passed by {% call %}
                callerArgument = &value;
                continue;
            }
            bool known = false;
            for (std::size_t i = 0; i < params.size(); ++i) {
                if (params[i].name != key) continue;
                known = true;
                if (i < a.positional.size()) throw ValueError{"macro '" + macro.name + "' got multiple values for argument '" + key + "'"};
                frame->set(key, value);
            }
            if (!known) extraKeywords.dict->set(Value::from(key), value);
        }
        for (std::size_t i = a.positional.size(); i < params.size(); ++i) {
            if (frame->lookup(params[i].name) && !frame->variables.empty()) {
                bool setHere = false;
                for (const auto& v : frame->variables) setHere = setHere || v.first == params[i].name;
                if (setHere) continue;
            }
            if (params[i].defaultValue) frame->set(params[i].name, eval(*params[i].defaultValue, frame));
            else frame->set(params[i].name, Value::undefined("parameter '" + params[i].name + "' was not provided"));
        }
        frame->set("varargs", Value::makeList(std::move(extraPositional)));
        frame->set("kwargs", extraKeywords);
        if (callerArgument) frame->set("caller", *callerArgument);
        std::string out;
        execBody(macro.body, frame, out);
        return Value::from(std::move(out));
    }

    Flow execCallBlock(const Stmt& s, const FramePtr& frame, std::string& out) {
        const Expr& call = *s.expression;
        Value callee = eval(*call.items[0], frame);
        CallArgs args = evalArguments(call.arguments, frame);
        const Stmt* block = &s;
        FramePtr blockFrame = frame;
        Value caller = Value::makeCallable("caller", [this, block, blockFrame](CallArgs& a) {
            Stmt pseudo;
            pseudo.name = "caller";
            auto callerFrame = std::make_shared<Frame>();
            callerFrame->parent = blockFrame;
            for (std::size_t i = 0; i < block->parameters.size(); ++i) {
                const Value* given = a.get(i, block->parameters[i].name.c_str());
                if (given) callerFrame->set(block->parameters[i].name, *given);
                else if (block->parameters[i].defaultValue)
                    callerFrame->set(block->parameters[i].name, eval(*block->parameters[i].defaultValue, callerFrame));
                else callerFrame->set(block->parameters[i].name, Value::undefined());
            }
            std::string captured;
            execBody(block->body, callerFrame, captured);
            return Value::from(std::move(captured));
        });
        if (!callee.isCallable()) fail(call.position, "call", "'{% call %}' needs a macro, got " + typeName(callee));
        args.keyword.emplace_back("caller", caller);
        Value result;
        try {
            result = callee.callable->function(args);
        } catch (const ValueError& e) {
            fail(call.position, "call", e.message);
        } catch (const TemplateRaised& r) {
            fail(call.position, "raise_exception", r.message, true);
        }
        append(out, toStr(result), s.position, "call");
        return Flow::Normal;
    }

    // ---- expressions --------------------------------------------------------------------------
    Value eval(const Expr& e, const FramePtr& frame) {
        DepthGuard guard(*this, e.position, "expression");
        step(e.position, "expression");
        try {
            return evalInner(e, frame);
        } catch (const ValueError& error) {
            fail(e.position, constructOf(e), error.message);
        } catch (const TemplateRaised& raised) {
            fail(e.position, "raise_exception", raised.message, true);
        }
    }

    CallArgs evalArguments(const Arguments& arguments, const FramePtr& frame) {
        CallArgs args;
        for (const auto& p : arguments.positional) args.positional.push_back(eval(*p, frame));
        for (const auto& [key, value] : arguments.keyword) args.keyword.emplace_back(key, eval(*value, frame));
        return args;
    }

    Value evalFilterChain(const Expr& e, const FramePtr& frame, const Value& input) {
        // The innermost filter of a {% filter %} or {% set x | f %} chain has no input expression.
        Value subject = e.items[0] ? evalFilterChain(*e.items[0], frame, input) : input;
        CallArgs args = evalArguments(e.arguments, frame);
        try {
            if (!hasFilter(e.name)) throw ValueError{"no filter named '" + e.name + "'"};
            return applyFilter(e.name, subject, args, builtinLimits_);
        } catch (const ValueError& error) {
            fail(e.position, constructOf(e), error.message);
        }
    }

    Value evalInner(const Expr& e, const FramePtr& frame) {
        switch (e.kind) {
        case Expr::Kind::Literal: return e.literal;
        case Expr::Kind::Name: {
            if (const Value* v = frame->lookup(e.name)) return *v;
            return Value::undefined("'" + e.name + "' is undefined");
        }
        case Expr::Kind::List:
        case Expr::Kind::Tuple: {
            std::vector<Value> items;
            for (const auto& item : e.items) items.push_back(eval(*item, frame));
            return Value::makeList(std::move(items), e.kind == Expr::Kind::Tuple);
        }
        case Expr::Kind::Dict: {
            Value dict = Value::makeDict();
            for (std::size_t i = 0; i + 1 < e.items.size(); i += 2) {
                Value key = eval(*e.items[i], frame);
                if (key.isList() && !key.list->tuple) throw ValueError{"unhashable type: 'list'"};
                if (key.isMapping()) throw ValueError{"unhashable type: 'dict'"};
                dict.dict->set(key, eval(*e.items[i + 1], frame));
            }
            return dict;
        }
        case Expr::Kind::GetAttr: return getAttribute(eval(*e.items[0], frame), e.name);
        case Expr::Kind::GetItem: {
            Value object = eval(*e.items[0], frame);
            return getItem(object, eval(*e.items[1], frame));
        }
        case Expr::Kind::Slice: {
            Value object = eval(*e.items[0], frame);
            Value parts[3];
            for (int i = 0; i < 3; ++i) parts[i] = e.items[static_cast<std::size_t>(i) + 1] ? eval(*e.items[static_cast<std::size_t>(i) + 1], frame) : Value::none();
            try {
                return getSlice(object, parts[0], parts[1], parts[2]);
            } catch (const ValueError& error) {
                // Jinja folds a constant slice at compile time through its sandboxed getitem,
                // which turns the failure into an undefined value; at run time it is a TypeError.
                if (e.constant) return Value::undefined(error.message);
                throw;
            }
        }
        case Expr::Kind::Call: {
            Value callee = eval(*e.items[0], frame);
            CallArgs args = evalArguments(e.arguments, frame);
            if (callee.isUndefined()) throw ValueError{callee.text.empty() ? "calling an undefined value" : callee.text};
            if (!callee.isCallable()) throw ValueError{"'" + typeName(callee) + "' object is not callable"};
            return callee.callable->function(args);
        }
        case Expr::Kind::Filter: {
            if (!hasFilter(e.name)) throw ValueError{"no filter named '" + e.name + "'"};
            Value input = eval(*e.items[0], frame);
            CallArgs args = evalArguments(e.arguments, frame);
            return applyFilter(e.name, input, args, builtinLimits_);
        }
        case Expr::Kind::Test: {
            if (!hasTest(e.name)) throw ValueError{"no test named '" + e.name + "'"};
            Value input = eval(*e.items[0], frame);
            CallArgs args = evalArguments(e.arguments, frame);
            bool result = applyTest(e.name, input, args);
            return Value::from(e.negated ? !result : result);
        }
        case Expr::Kind::Negate:
        case Expr::Kind::Plus: {
            Value v = eval(*e.items[0], frame);
            if (v.isUndefined()) throw ValueError{v.text.empty() ? "undefined value in arithmetic" : v.text};
            if (!v.isNumber()) throw ValueError{std::string("bad operand type for unary ") + (e.kind == Expr::Kind::Negate ? "-" : "+") + ": '" + typeName(v) + "'"};
            if (e.kind == Expr::Kind::Plus) return v.kind == Value::Kind::Bool ? Value::from(static_cast<std::int64_t>(v.boolean)) : v;
            if (v.kind == Value::Kind::Float) return Value::from(-v.number);
            std::int64_t i = v.kind == Value::Kind::Bool ? v.boolean : v.integer;
            if (i == INT64_MIN) return Value::from(-static_cast<double>(i));
            return Value::from(-i);
        }
        case Expr::Kind::Binary: return binary(e.name, eval(*e.items[0], frame), eval(*e.items[1], frame));
        case Expr::Kind::Compare: {
            Value left = eval(*e.items[0], frame);
            for (std::size_t i = 0; i < e.operators.size(); ++i) {
                Value right = eval(*e.items[i + 1], frame);
                if (!compareOp(e.operators[i], left, right)) return Value::from(false);
                left = std::move(right);
            }
            return Value::from(true);
        }
        case Expr::Kind::And: {
            Value left = eval(*e.items[0], frame);
            if (!truthy(left)) return left;
            return eval(*e.items[1], frame);
        }
        case Expr::Kind::Or: {
            Value left = eval(*e.items[0], frame);
            if (truthy(left)) return left;
            return eval(*e.items[1], frame);
        }
        case Expr::Kind::Not: return Value::from(!truthy(eval(*e.items[0], frame)));
        case Expr::Kind::Conditional: {
            if (truthy(eval(*e.items[0], frame))) return eval(*e.items[1], frame);
            if (e.items[2]) return eval(*e.items[2], frame);
            return Value::undefined("the inline if has no else branch");
        }
        }
        return Value::undefined();
    }

    bool compareOp(const std::string& op, const Value& a, const Value& b) {
        if (op == "==") return equals(a, b);
        if (op == "!=") return !equals(a, b);
        if (op == "in" || op == "notin") {
            CallArgs args;
            args.positional.push_back(b);
            if (b.isUndefined()) return op == "notin"; // Jinja's Undefined iterates as empty
            if (!b.isString() && !b.isList() && !b.isMapping())
                throw ValueError{"argument of type '" + typeName(b) + "' is not iterable"};
            bool found = applyTest("in", a, args);
            return op == "in" ? found : !found;
        }
        if (a.isUndefined()) throw ValueError{a.text.empty() ? "undefined value in a comparison" : a.text};
        if (b.isUndefined()) throw ValueError{b.text.empty() ? "undefined value in a comparison" : b.text};
        int c = 0;
        try {
            c = compare(a, b);
        } catch (const ValueError&) {
            throw ValueError{"'" + op + "' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'"};
        }
        if (op == "<") return c < 0;
        if (op == "<=") return c <= 0;
        if (op == ">") return c > 0;
        return c >= 0;
    }

    Value binary(const std::string& op, const Value& a, const Value& b) {
        if (op == "~") {
            std::string s = toStr(a) + toStr(b);
            checkStringSize(s.size());
            return Value::from(std::move(s));
        }
        if (a.isUndefined()) throw ValueError{a.text.empty() ? "undefined value in arithmetic" : a.text};
        if (b.isUndefined()) throw ValueError{b.text.empty() ? "undefined value in arithmetic" : b.text};
        auto unsupported = [&]() {
            return ValueError{"unsupported operand type(s) for " + op + ": '" + typeName(a) + "' and '" + typeName(b) + "'"};
        };
        if (op == "+") {
            if (a.isString() && b.isString()) {
                checkStringSize(a.text.size() + b.text.size());
                return Value::from(a.text + b.text);
            }
            if (a.isList() && b.isList() && a.list->tuple == b.list->tuple) {
                checkStringSize((a.list->items.size() + b.list->items.size()) * sizeof(Value) / 8);
                std::vector<Value> items = a.list->items;
                items.insert(items.end(), b.list->items.begin(), b.list->items.end());
                return Value::makeList(std::move(items), a.list->tuple);
            }
        }
        if (op == "*") {
            const Value* sequence = (a.isString() || a.isList()) ? &a : (b.isString() || b.isList()) ? &b : nullptr;
            const Value* count = sequence == &a ? &b : &a;
            if (sequence && (count->kind == Value::Kind::Int || count->kind == Value::Kind::Bool)) {
                std::int64_t n = count->kind == Value::Kind::Bool ? count->boolean : count->integer;
                if (n <= 0) return sequence->isString() ? Value::from("") : Value::makeList({}, sequence->list->tuple);
                std::size_t unit = sequence->isString() ? sequence->text.size() : sequence->list->items.size() * 8;
                if (unit != 0 && static_cast<std::uint64_t>(n) > limits_.maxOutputBytes / unit) throw ValueError{"the repeated value would be larger than the output limit"};
                if (sequence->isString()) {
                    std::string out;
                    out.reserve(unit * static_cast<std::size_t>(n));
                    for (std::int64_t i = 0; i < n; ++i) out += sequence->text;
                    return Value::from(std::move(out));
                }
                std::vector<Value> items;
                for (std::int64_t i = 0; i < n; ++i) items.insert(items.end(), sequence->list->items.begin(), sequence->list->items.end());
                return Value::makeList(std::move(items), sequence->list->tuple);
            }
        }
        if (op == "%" && a.isString()) {
            // Python treats a list or dict right operand as a mapping: no error when nothing is formatted.
            if ((b.isList() && !b.list->tuple) || b.isMapping()) {
                bool formats = false;
                for (std::size_t i = 0; i + 1 < a.text.size(); ++i)
                    if (a.text[i] == '%') {
                        formats = formats || a.text[i + 1] != '%';
                        ++i;
                    }
                if (!formats) return applyFilter("format", a, *std::make_unique<CallArgs>(), builtinLimits_);
            }
            CallArgs args;
            if (b.isList() && b.list->tuple) args.positional = b.list->items;
            else args.positional.push_back(b);
            return applyFilter("format", a, args, builtinLimits_);
        }
        if (!a.isNumber() || !b.isNumber()) throw unsupported();
        bool integers = a.kind != Value::Kind::Float && b.kind != Value::Kind::Float;
        auto asInt = [](const Value& v) { return v.kind == Value::Kind::Bool ? static_cast<std::int64_t>(v.boolean) : v.integer; };
        if (integers && op != "/") {
            std::int64_t x = asInt(a), y = asInt(b), r = 0;
            if (op == "+" && !__builtin_add_overflow(x, y, &r)) return Value::from(r);
            if (op == "-" && !__builtin_sub_overflow(x, y, &r)) return Value::from(r);
            if (op == "*" && !__builtin_mul_overflow(x, y, &r)) return Value::from(r);
            if (op == "//" || op == "%") {
                if (y == 0) throw ValueError{"integer division or modulo by zero"};
                if (x == INT64_MIN && y == -1) return Value::from(op == "//" ? -static_cast<double>(x) : 0.0);
                std::int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) {
                    --q;
                    m += y;
                }
                return Value::from(op == "//" ? q : m);
            }
            if (op == "**") {
                if (y >= 0) {
                    std::int64_t result = 1, base = x;
                    bool overflow = false;
                    for (std::int64_t k = 0; k < y && !overflow; ++k) {
                        overflow = __builtin_mul_overflow(result, base, &result);
                        if (result == 0 || result == 1) break;
                        if (k > 64 && (base == -1)) break;
                    }
                    if (base == -1) return Value::from(static_cast<std::int64_t>(y % 2 == 0 ? 1 : -1));
                    if (!overflow) return Value::from(result);
                }
                return Value::from(std::pow(static_cast<double>(x), static_cast<double>(y)));
            }
            // overflow: fall through to floating point (Python would use big integers)
        }
        double x = toDouble(a), y = toDouble(b);
        if (op == "+") return Value::from(x + y);
        if (op == "-") return Value::from(x - y);
        if (op == "*") return Value::from(x * y);
        if (op == "/") {
            if (y == 0) throw ValueError{"division by zero"};
            return Value::from(x / y);
        }
        if (op == "//") {
            if (y == 0) throw ValueError{"float floor division by zero"};
            return Value::from(std::floor(x / y));
        }
        if (op == "%") {
            if (y == 0) throw ValueError{"float modulo"};
            double m = std::fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return Value::from(m);
        }
        if (op == "**") return Value::from(std::pow(x, y));
        throw unsupported();
    }

    void checkStringSize(std::size_t size) {
        if (size > limits_.maxOutputBytes) throw ValueError{"the string would be larger than the output limit"};
    }

    const Template& tmpl_;
    const ChatTemplateLimits& limits_;
    BuiltinLimits builtinLimits_;
    std::uint64_t steps_ = 0;
    int depth_ = 0;
    int callDepth_ = 0;
};

} // namespace

std::string renderTemplate(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables,
                           const ChatTemplateLimits& limits, std::optional<std::int64_t> nowUnixSeconds) {
    Evaluator evaluator(tmpl, limits, nowUnixSeconds);
    return evaluator.run(variables);
}

} // namespace sp::chat
