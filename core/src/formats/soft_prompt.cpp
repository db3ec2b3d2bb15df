#include "softprompt/soft_prompt.h"

#include "softprompt/error.h"
#include "softprompt/safetensors.h"

#include <cstring>
#include <limits>

namespace sp {

namespace {
const char kPromptTensor[] = "prompt_embeddings"; // the PEFT prompt-tuning name
} // namespace

std::string softPromptToSafetensors(const SoftPrompt& sigma,
                                    const std::map<std::string, std::string>& metadata)
{
    if (sigma.k <= 0 || sigma.dim <= 0)
        throw Error("cannot save a soft prompt of " + std::to_string(sigma.k) + " x " +
                    std::to_string(sigma.dim) + " vectors: both must be positive");
    if (sigma.values.size() != static_cast<std::size_t>(sigma.k) * static_cast<std::size_t>(sigma.dim))
        throw Error("soft prompt holds " + std::to_string(sigma.values.size()) + " values but k x dim is " +
                    std::to_string(static_cast<long long>(sigma.k) * sigma.dim));
    std::map<std::string, std::string> allMetadata = metadata;
    allMetadata["format"] = "pt";
    const TensorToWrite tensor{kPromptTensor, TensorDType::F32, {sigma.k, sigma.dim}, sigma.values.data()};
    return serializeSafetensors({tensor}, allMetadata);
}

SoftPrompt softPromptFromSafetensors(const std::string& bytes, const std::string& sourceName)
{
    const std::shared_ptr<SafetensorsFile> file = SafetensorsFile::fromBytes(bytes, sourceName);
    if (!file->contains(kPromptTensor))
        throw Error(fileError(sourceName, "is not a soft prompt: it has no \"prompt_embeddings\" tensor"));
    const TensorView& view = file->tensor(kPromptTensor);
    if (view.dtype != TensorDType::F32 || view.shape.size() != 2 || view.shape[0] <= 0 ||
        view.shape[1] <= 0 || view.shape[0] > std::numeric_limits<int>::max() ||
        view.shape[1] > std::numeric_limits<int>::max())
        throw Error(fileError(sourceName,
                              "\"prompt_embeddings\" must be a non-empty F32 [k, d] tensor, found " +
                                  dtypeName(view.dtype) + " of rank " + std::to_string(view.shape.size())));
    SoftPrompt sigma;
    sigma.k = static_cast<int>(view.shape[0]);
    sigma.dim = static_cast<int>(view.shape[1]);
    sigma.values.resize(static_cast<std::size_t>(view.elementCount()));
    std::memcpy(sigma.values.data(), view.data, view.byteSize);
    return sigma;
}

std::string runStatusKey(RunStatus status)
{
    switch (status) {
    case RunStatus::Running:
        return "running";
    case RunStatus::Finished:
        return "finished";
    case RunStatus::Cancelled:
        return "cancelled";
    case RunStatus::Failed:
        return "failed";
    case RunStatus::Interrupted:
        return "interrupted";
    }
    return "failed";
}

RunStatus runStatusFromKey(const std::string& key)
{
    for (RunStatus status : {RunStatus::Running, RunStatus::Finished, RunStatus::Cancelled, RunStatus::Failed,
                             RunStatus::Interrupted})
        if (runStatusKey(status) == key)
            return status;
    throw Error("unknown run status \"" + key +
                "\" (expected running, finished, cancelled, failed or interrupted); the run database may "
                "come from a newer version");
}

} // namespace sp
