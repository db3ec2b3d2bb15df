#pragma once
// The learned soft prompt σ and the run status shared by the engine, the store and the UI.
#include <map>
#include <string>
#include <vector>

namespace sp {

struct SoftPrompt {
    int k = 0;
    int dim = 0;
    std::vector<float> values; // [k, dim] row-major, always float32
    bool empty() const { return values.empty(); }
};

// safetensors bytes with one F32 tensor "prompt_embeddings" [k, d] (the PEFT layout) and the given
// metadata (plus {"format": "pt"}).
std::string softPromptToSafetensors(const SoftPrompt& sigma,
                                    const std::map<std::string, std::string>& metadata = {});
// Throws sp::Error naming `sourceName` when the bytes are not such a file.
SoftPrompt softPromptFromSafetensors(const std::string& bytes, const std::string& sourceName);

enum class RunStatus { Running, Finished, Cancelled, Failed, Interrupted };
std::string runStatusKey(RunStatus status); // "running", "finished", "cancelled", "failed", "interrupted"
RunStatus runStatusFromKey(const std::string& key); // throws sp::Error on an unknown key

} // namespace sp
