// Anchor translation unit for the tests' precompiled torch header (see tests/CMakeLists.txt).
#include "torch_common.h"
