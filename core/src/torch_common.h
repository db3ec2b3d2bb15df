#pragma once
// The torch headers core needs, in one place so they can be precompiled once. torch/torch.h
// costs ~12 s per translation unit here; these cost ~5 s and cover tensors and autograd.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <torch/types.h>
#include <torch/version.h>
