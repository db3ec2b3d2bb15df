#include "tokenizer/post_processors.h"

#include <map>

namespace sp::tok {

namespace {

class TemplatePostProcessor final : public PostProcessor {
public:
    // A piece of the single-sequence template: the sequence itself, or a special token's ids.
    struct Piece {
        bool isSequence = false;
        std::vector<std::int32_t> ids;
    };
    explicit TemplatePostProcessor(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

    void process(std::vector<std::int32_t>& ids, bool addSpecialTokens) const override
    {
        if (!addSpecialTokens)
            return;
        std::vector<std::int32_t> result;
        result.reserve(ids.size() + 4);
        for (const Piece& piece : pieces_) {
            if (piece.isSequence)
                result.insert(result.end(), ids.begin(), ids.end());
            else
                result.insert(result.end(), piece.ids.begin(), piece.ids.end());
        }
        ids.swap(result);
    }
    std::string describe() const override { return "TemplateProcessing"; }

private:
    std::vector<Piece> pieces_;
};

class ClsSepPostProcessor final : public PostProcessor {
public:
    ClsSepPostProcessor(std::int32_t cls, std::int32_t sep, std::string name)
        : cls_(cls), sep_(sep), name_(std::move(name))
    {
    }
    void process(std::vector<std::int32_t>& ids, bool addSpecialTokens) const override
    {
        if (!addSpecialTokens)
            return;
        ids.insert(ids.begin(), cls_);
        ids.push_back(sep_);
    }
    std::string describe() const override { return name_; }

private:
    std::int32_t cls_;
    std::int32_t sep_;
    std::string name_;
};

class NoSpecialTokensPostProcessor final : public PostProcessor {
public:
    void process(std::vector<std::int32_t>&, bool) const override {}
    std::string describe() const override { return "ByteLevel"; }
};

class SequencePostProcessor final : public PostProcessor {
public:
    explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps)
        : steps_(std::move(steps))
    {
    }
    void process(std::vector<std::int32_t>& ids, bool addSpecialTokens) const override
    {
        for (const auto& step : steps_)
            step->process(ids, addSpecialTokens);
    }
    std::string describe() const override { return describeSequence(steps_); }

private:
    std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// ["<s>", 1] as used by RobertaProcessing and BertProcessing.
std::int32_t tokenPairId(const Json& config, const char* key, const JsonPath& path)
{
    const Json& pair = requireMember(config, key, path);
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string())
        (path / key).fail("must be a pair [\"token\", id]");
    return requireTokenId(pair[1], (path / key)[1]);
}

std::unique_ptr<PostProcessor> makeTemplate(const Json& config, const JsonPath& path)
{
    std::map<std::string, std::vector<std::int32_t>> specialIds;
    if (const Json* specials = optionalMember(config, "special_tokens")) {
        if (!specials->is_object())
            (path / "special_tokens").fail("must be an object");
        for (auto it = specials->begin(); it != specials->end(); ++it) {
            const JsonPath entryPath = path / "special_tokens" / it.key();
            const Json& ids = requireMember(it.value(), "ids", entryPath);
            if (!ids.is_array())
                (entryPath / "ids").fail("must be an array of ids");
            std::vector<std::int32_t> list;
            for (std::size_t i = 0; i < ids.size(); ++i)
                list.push_back(requireTokenId(ids[i], (entryPath / "ids")[i]));
            specialIds[it.key()] = std::move(list);
        }
    }
    const JsonPath singlePath = path / "single";
    const Json& single = requireMember(config, "single", path);
    if (!single.is_array())
        singlePath.fail("must be an array of template pieces");
    std::vector<TemplatePostProcessor::Piece> pieces;
    for (std::size_t i = 0; i < single.size(); ++i) {
        const Json& entry = single[i];
        const JsonPath entryPath = singlePath[i];
        TemplatePostProcessor::Piece piece;
        std::string specialName;
        if (entry.is_string()) {
            // The short form: "$A", "$B:1", "<s>" or "<s>:0".
            std::string text = entry.get<std::string>();
            const std::size_t colon = text.rfind(':');
            if (colon != std::string::npos && colon + 1 < text.size() &&
                text.find_first_not_of("0123456789", colon + 1) == std::string::npos)
                text.resize(colon);
            if (!text.empty() && text[0] == '$')
                piece.isSequence = text == "$" || text == "$A" || text == "$0";
            else
                specialName = text;
            if (!text.empty() && text[0] == '$' && !piece.isSequence)
                continue; // $B only appears in pair templates
        } else if (const Json* sequence = optionalMember(entry, "Sequence")) {
            const std::string id = stringMember(*sequence, "id", entryPath / "Sequence");
            if (id != "A" && id != "B")
                (entryPath / "Sequence" / "id").fail("must be \"A\" or \"B\"");
            if (id == "B")
                continue;
            piece.isSequence = true;
        } else if (const Json* special = optionalMember(entry, "SpecialToken")) {
            specialName = stringMember(*special, "id", entryPath / "SpecialToken");
        } else {
            entryPath.fail("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
        }
        if (!piece.isSequence) {
            const auto it = specialIds.find(specialName);
            if (it == specialIds.end())
                entryPath.fail("names the special token \"" + specialName +
                               "\", which special_tokens does not define");
            piece.ids = it->second;
        }
        pieces.push_back(std::move(piece));
    }
    return std::make_unique<TemplatePostProcessor>(std::move(pieces));
}

} // namespace

std::unique_ptr<PostProcessor> makePostProcessor(const Json& config, const JsonPath& path)
{
    const std::string type = stringMember(config, "type", path);
    if (type == "TemplateProcessing")
        return makeTemplate(config, path);
    if (type == "RobertaProcessing" || type == "BertProcessing")
        return std::make_unique<ClsSepPostProcessor>(tokenPairId(config, "cls", path),
                                                     tokenPairId(config, "sep", path), type);
    if (type == "ByteLevel")
        return std::make_unique<NoSpecialTokensPostProcessor>();
    if (type == "Sequence")
        return std::make_unique<SequencePostProcessor>(
            sequenceSteps(config, "processors", path, &makePostProcessor));
    (path / "type")
        .fail("is \"" + type +
              "\", which is not supported (supported post-processors: TemplateProcessing, RobertaProcessing, "
              "BertProcessing, ByteLevel, Sequence)");
}

} // namespace sp::tok
