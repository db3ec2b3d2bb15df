#pragma once
// PromptPieces as JSON: the run store's record of a run's layout, `softprompt chat layout` and the
// train/eval JSON. Apart from prompt_format.h, so that engine.h (which includes it) has no JSON types.
#include "softprompt/prompt_format.h"

#include <nlohmann/json.hpp>

namespace sp {

// {"format", "template", "pre", "mid", "post", "no_context_pre", "context_in_user_turn", "note"}
nlohmann::json promptPiecesToJson(const PromptPieces& pieces);
// Missing keys keep their defaults (a non-object: the default, plain pieces); throws sp::Error for an
// unknown format.
PromptPieces promptPiecesFromJson(const nlohmann::json& json);

} // namespace sp
