// libFuzzer target for the chat-template engine (templates are files users download). Every input
// must compile or raise sp::ChatTemplateError; a template that compiles must render a few
// conversations or raise sp::ChatTemplateError, never crash, hang or grow without bound. The
// render limits are lowered so that a runaway template ends quickly under the sanitizers.
//
// Input layout: the whole input is the template source. Seeds: fuzz/corpus/chat_template (real
// templates from tests/data/chat/templates plus small constructs); dictionary: fuzz/chat_template.dict.
#include "softprompt/chat_template.h"

#include <cstdint>
#include <string>

namespace {

void check(bool condition)
{
    if (!condition)
        __builtin_trap();
}

sp::ChatRenderInput conversation(bool withSystem, bool generationPrompt)
{
    sp::ChatRenderInput input;
    if (withSystem)
        input.messages.push_back({"system", "Be brief. \"quoted\" é"});
    input.messages.push_back({"user", "Hello?"});
    input.messages.push_back({"assistant", " Hi! "});
    input.messages.push_back({"user", "Bye"});
    input.addGenerationPrompt = generationPrompt;
    input.specialTokens["bos_token"] = "<s>";
    input.specialTokens["eos_token"] = "</s>";
    input.nowUnixSeconds = 1741953600;
    if (generationPrompt)
        input.extraVariablesJson =
            R"({"tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"a": {"type": "string", "description": "x"}}, "required": ["a"]}}}], "enable_thinking": false})";
    return input;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size > 64 * 1024)
        return 0;
    const std::string source(reinterpret_cast<const char*>(data), size);
    sp::ChatTemplateLimits limits;
    limits.maxSteps = 200'000;
    limits.maxOutputBytes = 1u << 20;
    limits.maxCallDepth = 50;
    limits.maxRange = 10'000;
    try {
        auto tmpl = sp::ChatTemplate::compile(source, "fuzz");
        tmpl.setLimits(limits);
        for (int variant = 0; variant < 2; ++variant) {
            try {
                const std::string out = tmpl.render(conversation(variant == 0, variant == 1));
                check(out.size() <= limits.maxOutputBytes);
            } catch (const sp::ChatTemplateError& e) {
                check(e.what() != nullptr && *e.what() != '\0');
            }
        }
    } catch (const sp::ChatTemplateError& e) {
        check(e.line() >= 0 && e.column() >= 0);
    }
    return 0;
}
