#include "engine/prompt_layout.h"

#include "softprompt/chat_template.h"
#include "softprompt/engine.h"
#include "softprompt/error.h"
#include "softprompt/prompt_pieces_json.h"
#include "softprompt/text.h"
#include "softprompt/tokenizer.h"

#include <algorithm>

namespace sp {

namespace {

// Placeholders without whitespace or markup, so that trim, tojson or escaping leave them whole.
constexpr const char* kContextPlaceholder = "SPCONTEXTPLACEHOLDER9f41c2";
constexpr const char* kQueryPlaceholder = "SPQUERYPLACEHOLDER9f41c2";
// How transformers' Gemma templates join a folded system message to the first user message.
constexpr const char* kFoldSeparator = "\n\n";

std::size_t findOnce(const std::string& text, const std::string& needle, const std::string& what)
{
    const std::size_t found = text.find(needle);
    if (found == std::string::npos || text.find(needle, found + 1) != std::string::npos)
        throw Error(
            "the chat template renders the " + what +
                (found == std::string::npos ? " nowhere" : " more than once") +
                ", so the workbench cannot tell where the context and the query go; use the plain prompt "
                "format with the markers written into the texts",
            Remedy::UsePlainFormat);
    return found;
}

} // namespace

std::string promptFormatKey(PromptFormat format)
{
    switch (format) {
    case PromptFormat::Auto:
        return "auto";
    case PromptFormat::Plain:
        return "plain";
    case PromptFormat::Chat:
        return "chat";
    }
    return "plain";
}

PromptFormat promptFormatFromKey(const std::string& key)
{
    if (key == "auto")
        return PromptFormat::Auto;
    if (key == "plain")
        return PromptFormat::Plain;
    if (key == "chat")
        return PromptFormat::Chat;
    throw Error("unknown prompt format '" + key + "'; use auto, plain or chat");
}

PromptFormat resolvePromptFormat(PromptFormat requested, const ChatModelFiles& files)
{
    if (requested == PromptFormat::Auto)
        return files.hasTemplate() ? PromptFormat::Chat : PromptFormat::Plain;
    if (requested == PromptFormat::Chat && !files.hasTemplate())
        files.chatTemplate(); // throws: no template, and what to do
    return requested;
}

nlohmann::json promptPiecesToJson(const PromptPieces& pieces)
{
    return {{"format", promptFormatKey(pieces.format)},
            {"template", pieces.templateName},
            {"pre", pieces.pre},
            {"mid", pieces.mid},
            {"post", pieces.post},
            {"no_context_pre", pieces.noContextPre},
            {"context_in_user_turn", pieces.contextInUserTurn},
            {"note", pieces.note}};
}

PromptPieces promptPiecesFromJson(const nlohmann::json& json)
{
    PromptPieces pieces;
    if (!json.is_object())
        return pieces;
    pieces.format = promptFormatFromKey(json.value("format", std::string("plain")));
    pieces.templateName = json.value("template", std::string());
    pieces.pre = json.value("pre", std::string());
    pieces.mid = json.value("mid", std::string());
    pieces.post = json.value("post", std::string());
    pieces.noContextPre = json.value("no_context_pre", std::string());
    pieces.contextInUserTurn = json.value("context_in_user_turn", false);
    pieces.note = json.value("note", std::string());
    return pieces;
}

PromptPieces chatPromptPieces(const ChatModelFiles& files, const std::string& templateName)
{
    return engine::ChatPrompt(files, templateName).pieces();
}

std::string renderChatConversation(const ChatModelFiles& files, const std::vector<ChatTurn>& messages,
                                   bool addGenerationPrompt, const std::string& templateName)
{
    const NamedChatTemplate& source = files.chatTemplate(templateName);
    ChatRenderInput input;
    for (const ChatTurn& turn : messages)
        input.messages.push_back({turn.role, turn.content});
    input.addGenerationPrompt = addGenerationPrompt;
    input.specialTokens = files.specialTokens;
    return ChatTemplate::compile(source.source, source.origin).render(input);
}

std::string conditionPromptText(const PromptPieces& pieces, Condition condition, const std::string& context,
                                const std::string& query, int k, const Tokenizer* tokenizer)
{
    const bool chat = pieces.format == PromptFormat::Chat;
    const std::string shownContext = chat ? trimWhitespace(context) : context;
    std::string middle;
    switch (condition) {
    case Condition::NoContext:
        return pieces.noContextPre + query + pieces.post;
    case Condition::FullContext:
        middle = shownContext;
        break;
    case Condition::SoftPrompt:
        middle = "[σ × " + std::to_string(k) + "]";
        break;
    case Condition::FirstK:
    case Condition::LastK:
        if (tokenizer) {
            const std::vector<std::int32_t> ids = tokenizer->encode(shownContext, false);
            const std::size_t kept = std::min<std::size_t>(std::size_t(std::max(k, 0)), ids.size());
            const std::vector<std::int32_t> part =
                condition == Condition::FirstK
                    ? std::vector<std::int32_t>(ids.begin(), ids.begin() + std::ptrdiff_t(kept))
                    : std::vector<std::int32_t>(ids.end() - std::ptrdiff_t(kept), ids.end());
            middle = tokenizer->decode(part, false);
        } else {
            middle = std::string("[the ") + (condition == Condition::FirstK ? "first " : "last ") +
                     std::to_string(k) + " tokens of the context]";
        }
        break;
    case Condition::PrunedHardPrompt:
        middle = "[the " + std::to_string(k) + " context tokens the teacher found most surprising, in order]";
        break;
    }
    return pieces.pre + middle + pieces.mid + query + pieces.post;
}

namespace engine {

ChatPrompt::ChatPrompt(const ChatModelFiles& files, const std::string& templateName)
{
    const NamedChatTemplate& source = files.chatTemplate(templateName);
    template_ = std::make_shared<const ChatTemplate>(ChatTemplate::compile(source.source, source.origin));
    specialTokens_ = files.specialTokens;
    pieces_.format = PromptFormat::Chat;
    pieces_.templateName = source.name;

    const std::string context = kContextPlaceholder, query = kQueryPlaceholder;
    const std::string folded = context + kFoldSeparator + query;
    std::string rendered;
    try {
        rendered = renderTurns({{"system", context}, {"user", query}});
    } catch (const ChatTemplateError& error) {
        // A template without a system role (it raises on one): the context opens the first user turn.
        if (!error.raisedByTemplate())
            throw;
        pieces_.contextInUserTurn = true;
        rendered = renderTurns({{"user", folded}});
        pieces_.note = "This template has no system role (it says: \"" + error.message() +
                       "\"), so the context goes at the start of the first user turn.";
    }
    // Gemma 3 folds a system message into the first user turn itself: say so.
    if (!pieces_.contextInUserTurn) {
        bool folds = false;
        try {
            folds = rendered == renderTurns({{"user", folded}});
        } catch (const ChatTemplateError&) {
            folds = false; // a template that needs a system message: it has a system turn
        }
        if (folds) {
            pieces_.contextInUserTurn = true;
            pieces_.note = "This template has no system turn of its own: it puts the system message at the "
                           "start of the first user turn, and so does the workbench.";
        }
    }
    const std::size_t contextAt = findOnce(rendered, context, "system message");
    const std::size_t queryAt = findOnce(rendered, query, "user message");
    if (queryAt < contextAt)
        throw Error(
            "the chat template puts the user message before the system message; use the plain prompt format",
            Remedy::UsePlainFormat);
    pieces_.pre = rendered.substr(0, contextAt);
    pieces_.mid = rendered.substr(contextAt + context.size(), queryAt - contextAt - context.size());
    pieces_.post = rendered.substr(queryAt + query.size());

    const std::string alone = renderTurns({{"user", query}});
    const std::size_t aloneAt = findOnce(alone, query, "user message (without a system message)");
    pieces_.noContextPre = alone.substr(0, aloneAt);
    if (alone.substr(aloneAt + query.size()) != pieces_.post)
        throw Error(
            "the chat template ends a conversation without a system message differently from one with "
            "it, so the no-context baseline cannot share the query's tokens; use the plain prompt format",
            Remedy::UsePlainFormat);
    // Qwen2.5 renders a default system prompt of its own when none is given: more text than an empty one.
    if (pieces_.noContextPre.size() > pieces_.pre.size() + pieces_.mid.size() && pieces_.note.empty())
        pieces_.note = "Without a context this template renders a system turn of its own; the no-context "
                       "baseline uses exactly that.";
}

std::string ChatPrompt::renderTurns(const std::vector<std::pair<std::string, std::string>>& turns) const
{
    ChatRenderInput input;
    for (const auto& [role, content] : turns)
        input.messages.push_back({role, content});
    input.addGenerationPrompt = true;
    input.specialTokens = specialTokens_;
    return template_->render(input);
}

std::string ChatPrompt::render(const std::string& context, const std::string& query) const
{
    if (pieces_.contextInUserTurn)
        return renderTurns({{"user", context + kFoldSeparator + query}});
    return renderTurns({{"system", context}, {"user", query}});
}

std::string ChatPrompt::renderWithoutContext(const std::string& query) const
{
    return renderTurns({{"user", query}});
}

std::string ChatPrompt::renderConversation(const std::string* context,
                                          const std::vector<std::pair<std::string, std::string>>& turns) const
{
    std::vector<std::pair<std::string, std::string>> messages = turns;
    if (context && pieces_.contextInUserTurn && !messages.empty())
        messages.front().second = *context + kFoldSeparator + messages.front().second;
    else if (context)
        messages.insert(messages.begin(), {"system", *context});
    return renderTurns(messages);
}

std::vector<std::int32_t> TokenizedPrompt::teacherIds(std::size_t query) const
{
    std::vector<std::int32_t> ids = pre;
    ids.insert(ids.end(), context.begin(), context.end());
    ids.insert(ids.end(), mid.begin(), mid.end());
    ids.insert(ids.end(), rows.at(query).begin(), rows.at(query).end());
    return ids;
}

TokenizedPrompt tokenizePlain(const EncodeText& encode, const std::vector<std::int32_t>& prefixIds,
                              const std::string& context, const std::vector<std::string>& queries)
{
    TokenizedPrompt prompt;
    prompt.pre = prefixIds;
    prompt.context = encode(context);
    for (const std::string& query : queries)
        prompt.rows.push_back(encode(query));
    prompt.noContext = prefixIds;
    return prompt;
}

namespace {

std::size_t commonPrefix(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b)
{
    const std::size_t limit = std::min(a.size(), b.size());
    std::size_t n = 0;
    while (n < limit && a[n] == b[n])
        ++n;
    return n;
}

bool startsWith(const std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& prefix)
{
    return prefix.size() <= ids.size() && std::equal(prefix.begin(), prefix.end(), ids.begin());
}

bool endsWith(const std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& suffix)
{
    return suffix.size() <= ids.size() && std::equal(suffix.rbegin(), suffix.rend(), ids.rbegin());
}

std::size_t nextCharacter(const std::string& text, std::size_t at)
{
    ++at;
    while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80)
        ++at;
    return at;
}

// The context and the query as the template rendered them (a template may trim them): `rendered`
// must be pre ⊕ c' ⊕ mid ⊕ z' ⊕ post with c' the context or its trimmed form.
std::size_t renderedContextLength(const PromptPieces& pieces, const std::string& rendered,
                                  const std::string& context)
{
    const std::size_t fixed = pieces.pre.size() + pieces.mid.size() + pieces.post.size();
    const bool framed = rendered.size() >= fixed && rendered.compare(0, pieces.pre.size(), pieces.pre) == 0 &&
                        rendered.compare(rendered.size() - pieces.post.size(), pieces.post.size(),
                                         pieces.post) == 0;
    if (framed) {
        for (const std::string& candidate : {context, trimWhitespace(context)}) {
            const std::size_t midAt = pieces.pre.size() + candidate.size();
            if (rendered.size() >= fixed + candidate.size() &&
                rendered.compare(pieces.pre.size(), candidate.size(), candidate) == 0 &&
                rendered.compare(midAt, pieces.mid.size(), pieces.mid) == 0)
                return candidate.size();
        }
    }
    throw Error("the chat template changes the context in a way the workbench cannot follow (it is not "
                "rendered between the template's system markers as written); use the plain prompt format",
                Remedy::UsePlainFormat);
}

} // namespace

TokenizedPrompt tokenizeChat(const ChatPrompt& chat, const EncodeText& encode, const std::string& context,
                             const std::vector<std::string>& queries)
{
    const PromptPieces& pieces = chat.pieces();
    TokenizedPrompt prompt;
    if (queries.empty()) {
        // Nothing to align against: the pieces on their own (only the context's length matters).
        const std::string rendered = chat.render(context, "");
        const std::size_t contextLength = renderedContextLength(pieces, rendered, context);
        prompt.pre = encode(pieces.pre);
        prompt.context = encode(rendered.substr(pieces.pre.size(), contextLength));
        prompt.mid = encode(pieces.mid);
        prompt.noContext = encode(pieces.noContextPre);
        return prompt;
    }

    std::vector<std::string> texts;
    std::vector<std::vector<std::int32_t>> ids;
    for (const std::string& query : queries) {
        texts.push_back(chat.render(context, query));
        ids.push_back(encode(texts.back()));
    }
    const std::string& first = texts.front();
    const std::size_t contextStart = pieces.pre.size();
    const std::size_t contextEnd = contextStart + renderedContextLength(pieces, first, context);
    const std::size_t queryStart = contextEnd + pieces.mid.size();

    // Where the context starts in the ids: the longest run of tokens the text before it shares with
    // the whole (a token that straddles the edge starts the context).
    const std::size_t begin = contextStart == 0 ? 0 : commonPrefix(encode(first.substr(0, contextStart)), ids[0]);
    // Where it ends: the first token edge at or after its last character.
    std::size_t end = 0;
    bool found = false;
    for (std::size_t at = contextEnd; at <= first.size() && !found; at = nextCharacter(first, at)) {
        const std::vector<std::int32_t> head = encode(first.substr(0, at));
        if (startsWith(ids[0], head)) {
            end = head.size();
            found = true;
        }
        if (at == first.size())
            break;
    }
    if (!found || end < begin)
        throw Error("could not find where the context ends in the tokens of the rendered conversation; use "
                    "the plain prompt format",
                    Remedy::UsePlainFormat);
    prompt.pre.assign(ids[0].begin(), ids[0].begin() + std::ptrdiff_t(begin));
    prompt.context.assign(ids[0].begin() + std::ptrdiff_t(begin), ids[0].begin() + std::ptrdiff_t(end));
    const std::vector<std::int32_t> head(ids[0].begin(), ids[0].begin() + std::ptrdiff_t(end));

    // mid: the tokens every conversation shares after the context and before its query.
    const std::vector<std::int32_t> beforeQuery = encode(first.substr(0, queryStart));
    std::vector<std::int32_t> mid;
    for (std::size_t q = 0; q < queries.size(); ++q) {
        if (!startsWith(ids[q], head) || texts[q].compare(0, queryStart, first, 0, queryStart) != 0)
            throw Error("query " + std::to_string(q + 1) +
                            " changes how the template renders the context; use the plain prompt format",
                        Remedy::UsePlainFormat);
        const std::size_t queryBegin = std::max(end, commonPrefix(beforeQuery, ids[q]));
        const std::vector<std::int32_t> own(ids[q].begin() + std::ptrdiff_t(end),
                                            ids[q].begin() + std::ptrdiff_t(queryBegin));
        mid = q == 0 ? own : std::vector<std::int32_t>(own.begin(), own.begin() + std::ptrdiff_t(commonPrefix(mid, own)));
    }
    prompt.mid = mid;
    for (std::size_t q = 0; q < queries.size(); ++q)
        prompt.rows.emplace_back(ids[q].begin() + std::ptrdiff_t(end + mid.size()), ids[q].end());

    // No context: the conversation without a system message, sharing each query's row.
    for (std::size_t q = 0; q < queries.size(); ++q) {
        const std::vector<std::int32_t> alone = encode(chat.renderWithoutContext(queries[q]));
        if (!endsWith(alone, prompt.rows[q]))
            throw Error(
                "query " + std::to_string(q + 1) +
                    " is tokenised differently without the context, so the no-context baseline cannot "
                    "share its tokens; use the plain prompt format",
                Remedy::UsePlainFormat);
        const std::vector<std::int32_t> before(alone.begin(), alone.end() - std::ptrdiff_t(prompt.rows[q].size()));
        if (q == 0)
            prompt.noContext = before;
        else if (before != prompt.noContext)
            throw Error("the template renders different text before query " + std::to_string(q + 1) +
                            " when there is no context; use the plain prompt format",
                        Remedy::UsePlainFormat);
    }
    return prompt;
}

} // namespace engine
} // namespace sp
