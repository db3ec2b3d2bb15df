#pragma once
// TrainConfig as JSON: the run store's `config`, project files, the Train tab's copy and paste.
// Apart from engine.h, so that the engine's API itself has no JSON types.
#include "softprompt/engine.h"

#include <nlohmann/json.hpp>

namespace sp {

nlohmann::json trainConfigToJson(const TrainConfig& config);
// Missing keys keep their defaults; throws sp::Error for a wrong type or an unknown value.
TrainConfig trainConfigFromJson(const nlohmann::json& json);

} // namespace sp
