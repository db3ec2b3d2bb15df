// softprompt tokenize | detokenize | bench tokenizer
//
//   softprompt tokenize --tokenizer PATH --jsonl FILE [--add-special]
//       FILE holds one JSON string per line ("-" reads stdin); prints one JSON array of ids per line.
//   softprompt tokenize --tokenizer PATH --text "..." [--add-special] [--json]
//       prints the ids as a JSON array, or with --json {"ids": [...], "tokens": [...]}.
//   softprompt detokenize --tokenizer PATH --ids 1,2,3 [--skip-special] [--json]
//       prints the decoded text (with --json: {"text": "..."}).
//   softprompt bench tokenizer [--tokenizer PATH]
//       tokenizes 1 MB of generated English text and compares with @huggingface/tokenizers in node.
#include "cli_common.h"
#include "registry.h"

#include "softprompt/error.h"
#include "softprompt/text.h"
#include "softprompt/tokenizer.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- tokenize / detokenize -------------------------------------------------------------------

struct TokenizeOptions {
    std::string tokenizer;
    std::string jsonlFile;
    std::string text;
    bool haveText = false;
    bool addSpecial = false;
    bool json = false;
};

void tokenizeJsonl(const sp::Tokenizer& tokenizer, const TokenizeOptions& options)
{
    std::ifstream file;
    std::istream* input = &std::cin;
    if (options.jsonlFile != "-") {
        file.open(options.jsonlFile, std::ios::binary);
        if (!file)
            throw sp::Error(sp::fileError(options.jsonlFile, "cannot be opened for reading"));
        input = &file;
    }
    std::string line;
    std::size_t lineNumber = 0;
    std::string output;
    while (std::getline(*input, line)) {
        ++lineNumber;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        json value;
        try {
            value = json::parse(line);
        } catch (const json::exception&) {
            throw sp::Error(
                sp::fileError(options.jsonlFile, "line " + std::to_string(lineNumber) +
                                                     " is not a JSON string (one JSON string per line, "
                                                     "e.g. \"Hello world\")"));
        }
        if (!value.is_string())
            throw sp::Error(sp::fileError(options.jsonlFile, "line " + std::to_string(lineNumber) +
                                                                 " holds a JSON " + value.type_name() +
                                                                 ", expected a JSON string"));
        const std::vector<std::int32_t> ids = tokenizer.encode(value.get<std::string>(), options.addSpecial);
        output += json(ids).dump();
        output += '\n';
        if (output.size() > (1u << 20)) {
            std::cout << output;
            output.clear();
        }
    }
    if (input->bad())
        throw sp::Error(sp::fileError(options.jsonlFile, "could not be read"));
    std::cout << output << std::flush;
}

void runTokenize(const TokenizeOptions& options)
{
    if (options.jsonlFile.empty() == !options.haveText)
        throw sp::Error("tokenize needs exactly one of --jsonl FILE or --text TEXT");
    const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(options.tokenizer);
    if (!options.jsonlFile.empty()) {
        tokenizeJsonl(tokenizer, options);
        return;
    }
    const std::vector<std::int32_t> ids = tokenizer.encode(options.text, options.addSpecial);
    if (!options.json) {
        spcli::printJson(ids);
        return;
    }
    json tokens = json::array();
    for (const std::int32_t id : ids)
        tokens.push_back(tokenizer.idToToken(id));
    spcli::printJson(json{{"ids", ids}, {"tokens", tokens}});
}

struct DetokenizeOptions {
    std::string tokenizer;
    std::string ids;
    bool skipSpecial = false;
    bool json = false;
};

void runDetokenize(const DetokenizeOptions& options)
{
    const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(options.tokenizer);
    std::vector<std::int32_t> ids;
    for (const long long id : sp::parseIntegerList(options.ids)) {
        if (id < 0 || id >= tokenizer.vocabSize() ||
            tokenizer.idToToken(static_cast<std::int32_t>(id)).empty())
            throw sp::Error("token id " + std::to_string(id) + " is not in the vocabulary of " +
                            options.tokenizer + " (ids run from 0 to " +
                            std::to_string(tokenizer.vocabSize() - 1) + ")");
        ids.push_back(static_cast<std::int32_t>(id));
    }
    const std::string text = tokenizer.decode(ids, options.skipSpecial);
    if (options.json)
        spcli::printJson(json{{"text", text}});
    else
        std::cout << text << std::endl;
}

// ---- bench tokenizer -------------------------------------------------------------------------

// Where fetch-references.sh puts the reference files (tests/tokenizer/fetch-references.sh).
fs::path referenceCacheDir()
{
    if (const char* cache = std::getenv("SP_TOKENIZER_CACHE"); cache != nullptr && *cache != '\0')
        return cache;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
        return fs::path(xdg) / "softprompt-workbench" / "npm";
    const char* home = std::getenv("HOME");
    return fs::path(home != nullptr ? home : ".") / ".cache" / "softprompt-workbench" / "npm";
}

// Deterministic English-like text: common words (Zipf-like), invented words built from syllables
// (so that BPE really merges), numbers, punctuation, quotes and contractions, in paragraphs.
std::string generateBenchmarkText(std::size_t bytes)
{
    static const char* const kCommon[] = {"the",
                                          "of",
                                          "and",
                                          "to",
                                          "a",
                                          "in",
                                          "is",
                                          "that",
                                          "it",
                                          "was",
                                          "for",
                                          "on",
                                          "are",
                                          "as",
                                          "with",
                                          "his",
                                          "they",
                                          "at",
                                          "be",
                                          "this",
                                          "from",
                                          "have",
                                          "or",
                                          "by",
                                          "one",
                                          "had",
                                          "not",
                                          "but",
                                          "what",
                                          "all",
                                          "were",
                                          "when",
                                          "we",
                                          "there",
                                          "can",
                                          "an",
                                          "your",
                                          "which",
                                          "their",
                                          "said",
                                          "if",
                                          "do",
                                          "will",
                                          "each",
                                          "about",
                                          "how",
                                          "up",
                                          "out",
                                          "them",
                                          "then",
                                          "she",
                                          "many",
                                          "some",
                                          "so",
                                          "these",
                                          "would",
                                          "other",
                                          "into",
                                          "has",
                                          "more",
                                          "her",
                                          "two",
                                          "like",
                                          "him",
                                          "see",
                                          "time",
                                          "could",
                                          "no",
                                          "make",
                                          "than",
                                          "first",
                                          "been",
                                          "its",
                                          "who",
                                          "now",
                                          "people",
                                          "my",
                                          "made",
                                          "over",
                                          "did",
                                          "down",
                                          "only",
                                          "way",
                                          "find",
                                          "use",
                                          "may",
                                          "water",
                                          "long",
                                          "little",
                                          "very",
                                          "after",
                                          "words",
                                          "called",
                                          "just",
                                          "where",
                                          "most",
                                          "know",
                                          "government",
                                          "between",
                                          "important",
                                          "information",
                                          "development",
                                          "experience",
                                          "understanding",
                                          "particularly",
                                          "responsibility",
                                          "environment",
                                          "international",
                                          "technology",
                                          "approximately",
                                          "characteristics",
                                          "photosynthesis",
                                          "Wednesday",
                                          "London",
                                          "Europe"};
    static const char* const kSyllables[] = {"ka", "lo",  "mi",  "ter", "an",   "sho", "ven",
                                             "ri", "pla", "dor", "qui", "zen",  "bra", "tul",
                                             "ex", "on",  "ist", "ful", "ment", "ly"};
    static const char* const kContractions[] = {"don't", "it's",   "we'll", "they're",
                                                "I'm",   "you've", "she'd"};
    std::mt19937_64 random(20240521);
    const auto uniform = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
    const std::size_t commonCount = sizeof(kCommon) / sizeof(kCommon[0]);
    std::string text;
    text.reserve(bytes + 256);
    while (text.size() < bytes) {
        const std::size_t sentences = 3 + uniform(5);
        for (std::size_t s = 0; s < sentences; ++s) {
            const std::size_t words = 6 + uniform(20);
            for (std::size_t w = 0; w < words; ++w) {
                std::string word;
                const std::size_t kind = uniform(100);
                if (kind < 72) {
                    // Zipf-like: the product of two uniforms favours the first words.
                    word = kCommon[uniform(commonCount) * (1 + uniform(commonCount)) / (commonCount + 1)];
                } else if (kind < 90) {
                    for (std::size_t k = 2 + uniform(3); k > 0; --k)
                        word += kSyllables[uniform(20)];
                } else if (kind < 94) {
                    word = std::to_string(uniform(kind < 92 ? 100 : 100000));
                } else if (kind < 97) {
                    word = kContractions[uniform(7)];
                } else {
                    word = "\"" + std::string(kCommon[uniform(commonCount)]) + "\"";
                }
                if (w == 0)
                    word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
                text += word;
                if (w + 1 < words)
                    text += uniform(12) == 0 ? ", " : " ";
            }
            text += uniform(10) == 0 ? "? " : uniform(12) == 0 ? "! " : ". ";
        }
        text += "\n\n";
    }
    text.resize(bytes);
    // Do not end inside a word's UTF-8 (all ASCII here, but keep the invariant explicit).
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80)
        text.pop_back();
    return text;
}

// Runs @huggingface/tokenizers on the same text, whole and paragraph by paragraph: a warm-up run,
// then the best of `repeats` timings (wall clock and process CPU time).
constexpr const char* kReferenceScript = R"JS(
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");
const [cache, tokenizerPath, textPath, repeats] = process.argv.slice(2);
const req = createRequire(path.join(cache, "node-reference", "package.json"));
const { Tokenizer } = req("@huggingface/tokenizers");
const version = JSON.parse(fs.readFileSync(
  path.join(cache, "node-reference", "node_modules", "@huggingface", "tokenizers", "package.json"), "utf8")).version;
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerPath, "utf8")), {});
const text = fs.readFileSync(textPath, "utf8");
const paragraphs = text.split("\n\n").filter((p) => p.length > 0);
function measure(run) {
  let ids = [], first = 0, best = Infinity, bestCpu = Infinity;
  for (let i = 0; i <= Number(repeats); i++) {
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    ids = run();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu);
    if (i === 0) first = seconds;
    else { best = Math.min(best, seconds); bestCpu = Math.min(bestCpu, (used.user + used.system) / 1e6); }
  }
  let hash = 2166136261;
  for (const id of ids) hash = Math.imul(hash ^ id, 16777619) >>> 0;
  return { first_seconds: first, best_seconds: best, best_cpu_seconds: bestCpu, tokens: ids.length, ids_hash: hash };
}
const whole = measure(() => tokenizer.encode(text, { add_special_tokens: false }).ids);
const parts = measure(() => {
  const all = [];
  for (const p of paragraphs) for (const id of tokenizer.encode(p, { add_special_tokens: false }).ids) all.push(id);
  return all;
});
process.stdout.write(JSON.stringify({ version, whole, paragraphs: parts }));
)JS";

std::uint32_t idsHash(const std::vector<std::int32_t>& ids)
{
    std::uint32_t hash = 2166136261u;
    for (const std::int32_t id : ids)
        hash = (hash ^ static_cast<std::uint32_t>(id)) * 16777619u;
    return hash;
}

std::string shellQuote(const std::string& text)
{
    std::string quoted = "'";
    for (const char c : text)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

// Runs `command` and returns its stdout; `status` gets the exit status (-1 when it did not run).
std::string runCommand(const std::string& command, int& status)
{
    std::string output;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        status = -1;
        return output;
    }
    char buffer[4096];
    std::size_t count = 0;
    while ((count = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
        output.append(buffer, count);
    const int raw = pclose(pipe);
    status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return output;
}

json runReference(const fs::path& cache, const std::string& tokenizerPath, const std::string& text,
                  int repeats)
{
    int status = 0;
    const std::string nodeVersion = runCommand("node --version 2>/dev/null", status);
    if (status != 0)
        return json{{"available", false}, {"reason", "node is not installed (install Node.js to compare)"}};
    if (!fs::exists(cache / "node-reference" / "node_modules" / "@huggingface" / "tokenizers" /
                    "package.json"))
        return json{{"available", false},
                    {"reason", "@huggingface/tokenizers is not installed in " + cache.string() +
                                   "; run tests/tokenizer/fetch-references.sh"}};
    const fs::path folder = fs::temp_directory_path() / ("softprompt-bench-" + std::to_string(::getpid()));
    fs::create_directories(folder);
    const fs::path script = folder / "reference.cjs";
    const fs::path textFile = folder / "text.txt";
    std::ofstream(script, std::ios::binary) << kReferenceScript;
    std::ofstream(textFile, std::ios::binary) << text;
    const std::string output = runCommand(
        "node " + shellQuote(script.string()) + " " + shellQuote(cache.string()) + " " +
            shellQuote(tokenizerPath) + " " + shellQuote(textFile.string()) + " " + std::to_string(repeats),
        status);
    std::error_code ignored;
    fs::remove_all(folder, ignored);
    json result;
    try {
        result = json::parse(output);
    } catch (const json::exception&) {
        return json{{"available", false},
                    {"reason", "node failed (exit status " + std::to_string(status) + ")"}};
    }
    result["available"] = true;
    result["node"] = sp::trimWhitespace(nodeVersion);
    return result;
}

struct Timing {
    double firstSeconds = 0.0;
    double bestSeconds = 1e30;
    double bestCpuSeconds = 1e30;
    std::vector<std::int32_t> ids;
};

double threadCpuSeconds()
{
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// A warm-up run (reported as the first run: cold word cache), then the best of `repeats`.
template <typename Encode> Timing measure(int repeats, Encode&& encode)
{
    Timing timing;
    for (int i = 0; i <= repeats; ++i) {
        const double cpuStart = threadCpuSeconds();
        const auto start = std::chrono::steady_clock::now();
        timing.ids = encode();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double cpuSeconds = threadCpuSeconds() - cpuStart;
        if (i == 0) {
            timing.firstSeconds = seconds;
        } else {
            timing.bestSeconds = std::min(timing.bestSeconds, seconds);
            timing.bestCpuSeconds = std::min(timing.bestCpuSeconds, cpuSeconds);
        }
    }
    return timing;
}

double ratio(double numerator, double denominator)
{
    return denominator > 0.0 ? numerator / denominator : 0.0;
}

struct BenchOptions {
    std::string tokenizer;
    double megabytes = 1.0;
    int repeats = 3;
};

void runBench(const BenchOptions& options)
{
    const fs::path cache = referenceCacheDir();
    std::string tokenizerPath = options.tokenizer;
    if (tokenizerPath.empty()) {
        tokenizerPath = (cache / "packages" / "gpt2" / "package" / "models" / "tokenizer.json").string();
        if (!fs::exists(tokenizerPath))
            throw sp::Error("no GPT-2 tokenizer.json at " + tokenizerPath +
                            ": pass --tokenizer PATH or run tests/tokenizer/fetch-references.sh");
    }
    if (options.megabytes <= 0.0 || options.megabytes > 256.0 || options.repeats < 1 || options.repeats > 100)
        throw sp::Error("bench tokenizer: --megabytes must be in (0, 256] and --repeats in 1..100");
    const std::string text = generateBenchmarkText(static_cast<std::size_t>(options.megabytes * 1e6));
    const auto loadStart = std::chrono::steady_clock::now();
    const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(tokenizerPath);
    const double loadSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count();

    std::vector<std::string> paragraphs;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = std::min(text.find("\n\n", start), text.size());
        if (end > start)
            paragraphs.push_back(text.substr(start, end - start));
        start = end + 2;
    }
    const Timing whole = measure(options.repeats, [&]() { return tokenizer.encode(text, false); });
    const Timing parts = measure(options.repeats, [&]() {
        std::vector<std::int32_t> all;
        for (const std::string& paragraph : paragraphs) {
            const std::vector<std::int32_t> ids = tokenizer.encode(paragraph, false);
            all.insert(all.end(), ids.begin(), ids.end());
        }
        return all;
    });

    const double megabytes = static_cast<double>(text.size()) / 1e6;
    json report{{"benchmark", "tokenizer"},
                {"tokenizer", tokenizerPath},
                {"description", tokenizer.description()},
                {"text_bytes", text.size()},
                {"tokens", whole.ids.size()},
                {"load_seconds", loadSeconds},
                {"repeats", options.repeats},
                {"cpp",
                 {{"first_seconds", whole.firstSeconds},
                  {"best_seconds", whole.bestSeconds},
                  {"best_cpu_seconds", whole.bestCpuSeconds},
                  {"mb_per_s", megabytes / whole.bestSeconds},
                  {"cpu_mb_per_s", megabytes / whole.bestCpuSeconds},
                  {"first_run_mb_per_s", megabytes / whole.firstSeconds}}}};
    json perParagraph{{"paragraphs", paragraphs.size()},
                      {"tokens", parts.ids.size()},
                      {"cpp_mb_per_s", megabytes / parts.bestSeconds},
                      {"cpp_cpu_mb_per_s", megabytes / parts.bestCpuSeconds}};

    json reference = runReference(cache, tokenizerPath, text, options.repeats);
    if (reference.value("available", false) && reference.contains("whole") &&
        reference.contains("paragraphs")) {
        const json referenceWhole = reference["whole"];
        const json referenceParts = reference["paragraphs"];
        const auto sameIds = [](const json& measured, const std::vector<std::int32_t>& ids) {
            return measured.value("tokens", std::size_t{0}) == ids.size() &&
                   measured.value("ids_hash", std::uint32_t{0}) == idsHash(ids);
        };
        const double referenceBest = referenceWhole.value("best_seconds", 0.0);
        const double referenceCpu = referenceWhole.value("best_cpu_seconds", 0.0);
        const double referenceFirst = referenceWhole.value("first_seconds", 0.0);
        reference =
            json{{"available", true},
                 {"engine", "@huggingface/tokenizers " + reference.value("version", std::string("?"))},
                 {"node", reference.value("node", std::string())},
                 {"first_seconds", referenceFirst},
                 {"best_seconds", referenceBest},
                 {"best_cpu_seconds", referenceCpu},
                 {"mb_per_s", ratio(megabytes, referenceBest)},
                 {"cpu_mb_per_s", ratio(megabytes, referenceCpu)},
                 {"first_run_mb_per_s", ratio(megabytes, referenceFirst)},
                 {"same_ids", sameIds(referenceWhole, whole.ids)}};
        report["speedup_vs_reference"] = ratio(referenceBest, whole.bestSeconds);
        report["cpu_speedup_vs_reference"] = ratio(referenceCpu, whole.bestCpuSeconds);
        report["first_run_speedup_vs_reference"] = ratio(referenceFirst, whole.firstSeconds);
        const double partsBest = referenceParts.value("best_seconds", 0.0);
        const double partsCpu = referenceParts.value("best_cpu_seconds", 0.0);
        perParagraph["reference_mb_per_s"] = ratio(megabytes, partsBest);
        perParagraph["reference_cpu_mb_per_s"] = ratio(megabytes, partsCpu);
        perParagraph["speedup_vs_reference"] = ratio(partsBest, parts.bestSeconds);
        perParagraph["cpu_speedup_vs_reference"] = ratio(partsCpu, parts.bestCpuSeconds);
        perParagraph["same_ids"] = sameIds(referenceParts, parts.ids);
    } else if (reference.value("available", false)) {
        reference = json{{"available", false}, {"reason", "the node script reported no timings"}};
    }
    report["reference"] = reference;
    report["per_paragraph"] = perParagraph;
    spcli::printJson(report);
}

void registerTokenizeCommands(CLI::App& app)
{
    auto tokenizeOptions = std::make_shared<TokenizeOptions>();
    CLI::App* tokenize = app.add_subcommand("tokenize", "Encode text with a Hugging Face tokenizer.json");
    tokenize
        ->add_option("--tokenizer", tokenizeOptions->tokenizer,
                     "tokenizer.json or a model folder holding one")
        ->required();
    tokenize->add_option("--jsonl", tokenizeOptions->jsonlFile,
                         "file with one JSON string per line (- for stdin); prints one id array per line");
    tokenize->add_option("--text", tokenizeOptions->text, "the text to encode");
    tokenize->add_flag("--add-special", tokenizeOptions->addSpecial,
                       "add the special tokens the file's post-processor defines (e.g. BOS)");
    tokenize->add_flag("--json", tokenizeOptions->json,
                       "with --text: print {\"ids\": [...], \"tokens\": [...]}");
    tokenize->callback([tokenizeOptions, tokenize]() {
        tokenizeOptions->haveText = tokenize->count("--text") > 0;
        runTokenize(*tokenizeOptions);
    });

    auto detokenizeOptions = std::make_shared<DetokenizeOptions>();
    CLI::App* detokenize =
        app.add_subcommand("detokenize", "Decode token ids with a Hugging Face tokenizer.json");
    detokenize
        ->add_option("--tokenizer", detokenizeOptions->tokenizer,
                     "tokenizer.json or a model folder holding one")
        ->required();
    detokenize->add_option("--ids", detokenizeOptions->ids, "comma-separated token ids, e.g. 15496,995")
        ->required();
    detokenize->add_flag("--skip-special", detokenizeOptions->skipSpecial, "leave out special tokens");
    detokenize->add_flag("--json", detokenizeOptions->json, "print {\"text\": \"...\"}");
    detokenize->callback([detokenizeOptions]() { runDetokenize(*detokenizeOptions); });

    auto benchOptions = std::make_shared<BenchOptions>();
    CLI::App* bench = spcli::benchGroup(app).add_subcommand(
        "tokenizer", "Tokenize 1 MB of generated English text; compare with @huggingface/tokenizers in node");
    bench->add_option("--tokenizer", benchOptions->tokenizer,
                      "tokenizer.json (default: GPT-2's from the reference cache of fetch-references.sh)");
    bench->add_option("--megabytes", benchOptions->megabytes, "size of the generated text (default 1)");
    bench->add_option("--repeats", benchOptions->repeats,
                      "timed runs after a warm-up run; the best counts (default 3)");
    bench->callback([benchOptions]() { runBench(*benchOptions); });
}

} // namespace

SP_REGISTER_CLI_COMMANDS(20, registerTokenizeCommands);
