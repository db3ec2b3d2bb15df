#pragma once
// The core-internal way from a ModelHandle to the torch model behind it (ModelHandle keeps impl()
// private, so that front ends see no torch types).
#include "model/loaded_model.h"
#include "softprompt/model_handle.h"

namespace sp::model {

struct HandleAccess {
    static LoadedModel& loaded(const ModelHandle& handle) { return handle.impl(); }
};

// Throws sp::Error when no model is loaded.
inline LoadedModel& loadedModel(const ModelHandle& handle)
{
    return HandleAccess::loaded(handle);
}

} // namespace sp::model
