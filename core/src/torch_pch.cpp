// Anchor translation unit for the precompiled torch header (see torch_common.h).
#include "torch_common.h"
