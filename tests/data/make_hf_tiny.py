#!/usr/bin/env python3
"""Builds the golden references for the model tests (tests/core/test_model_io.cpp, hfTinyGolden).

Needs Python with `transformers`, `torch` and `safetensors` (a GPU machine has them; the GPU itself
is not used: everything runs on the CPU in float32 so the references are deterministic). Run from
the repository root:

    python3 tests/data/make_hf_tiny.py            # writes tests/data/hf-tiny/<name>/

Families: GPT-2, Llama (GQA, llama3 RoPE), Qwen2, Mistral, Qwen3 (yarn RoPE), Phi-3 (partial rotary,
longrope), Gemma 2 (soft caps, sliding windows) and Gemma 3 (q/k norms, local/global RoPE). Written
for transformers 4.5x; newer versions read the same keyword arguments (rope_scaling is standardised
into rope_parameters).

For each architecture it builds a seeded tiny random checkpoint and saves, in tests/data/hf-tiny/<name>/:
  - config.json, model.safetensors   (save_pretrained(safe_serialization=True));
  - reference.safetensors            input_ids I64 [2, T], logits F32 [2, T, V] for every position,
                                     greedy_ids I64 [2, N] (greedy continuation, no EOS stop),
                                     metadata: transformers/torch versions and the seed.
Each folder stays under 1 MB. Weights are re-drawn wider than transformers' default initialisation
(and norms/biases randomised) so that logits are O(1) and every code path changes the numbers.
"""
import argparse
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

VOCAB = 512
PROMPT_LENGTH = 24
NEW_TOKENS = 8


def architectures():
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=256, rms_norm_eps=1e-6,
                  attention_dropout=0.0, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    yield ("tiny-gpt2", transformers.GPT2LMHeadModel,
           transformers.GPT2Config(vocab_size=VOCAB, n_positions=128, n_embd=64, n_layer=2, n_head=4,
                                   activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                                   attn_pdrop=0.0, bos_token_id=1, eos_token_id=2))
    # Grouped-query attention (4 query heads, 2 key/value heads), llama3 RoPE scaling whose three
    # frequency bands all occur with head_dim 16, theta 1e4 and 32 original positions; untied head.
    yield ("tiny-llama-gqa-llama3rope", transformers.LlamaForCausalLM,
           transformers.LlamaConfig(num_key_value_heads=2, rope_theta=10000.0, tie_word_embeddings=False,
                                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                  "high_freq_factor": 4.0,
                                                  "original_max_position_embeddings": 32},
                                    **common))
    # q/k/v biases, tied head, large theta, as in Qwen2.5-0.5B.
    yield ("tiny-qwen2", transformers.Qwen2ForCausalLM,
           transformers.Qwen2Config(num_key_value_heads=2, rope_theta=1000000.0, tie_word_embeddings=True,
                                    use_sliding_window=False, **common))
    # One key/value head and a sliding window longer than the test sequences.
    yield ("tiny-mistral", transformers.MistralForCausalLM,
           transformers.MistralConfig(num_key_value_heads=1, rope_theta=10000.0, tie_word_embeddings=False,
                                      sliding_window=128, **common))
    # Per-head q/k RMSNorms; head_dim 32 with hidden 64 and 4 heads (not hidden / heads); yarn RoPE.
    yield ("tiny-qwen3-yarn", transformers.Qwen3ForCausalLM,
           transformers.Qwen3Config(num_key_value_heads=2, head_dim=32, rope_theta=1000000.0,
                                    tie_word_embeddings=True, use_sliding_window=False,
                                    rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                                  "original_max_position_embeddings": 64},
                                    **common))
    # Phi-4-mini's shape in small: fused qkv_proj/gate_up_proj, 3/4 of each head rotating, longrope
    # over an original window of 16 (the 24-token prompt uses the long factors).
    rotary_half = (64 // 4 * 3 // 4) // 2
    yield ("tiny-phi3-longrope", transformers.Phi3ForCausalLM,
           transformers.Phi3Config(num_key_value_heads=2, partial_rotary_factor=0.75, rope_theta=10000.0,
                                   original_max_position_embeddings=16, tie_word_embeddings=False,
                                   rope_scaling={"type": "longrope",
                                                 "short_factor": [1.0 + 0.25 * i for i in range(rotary_half)],
                                                 "long_factor": [1.0 + 2.0 * i for i in range(rotary_half)]},
                                   sliding_window=None, resid_pdrop=0.0, embd_pdrop=0.0, **common))
    gemma = dict(common, hidden_activation="gelu_pytorch_tanh", head_dim=32, num_key_value_heads=2,
                 query_pre_attn_scalar=24, sliding_window=16)
    gemma.pop("rms_norm_eps")
    # Soft caps small enough to act on these logits; local layers (window 16) alternate with global.
    yield ("tiny-gemma2", transformers.Gemma2ForCausalLM,
           transformers.Gemma2Config(attn_logit_softcapping=5.0, final_logit_softcapping=4.0, rms_norm_eps=1e-6,
                                     **gemma))
    # q/k norms, local RoPE base 1e4 and global 1e6 with linear scaling, 2 local layers per global one.
    yield ("tiny-gemma3", transformers.Gemma3ForCausalLM,
           transformers.Gemma3TextConfig(rope_theta=1000000.0, rope_local_base_freq=10000.0,
                                         rope_scaling={"rope_type": "linear", "factor": 8.0},
                                         layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                                         rms_norm_eps=1e-6, **dict(gemma, num_hidden_layers=3)))


def widen_weights(model, generator):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1 and name.endswith("weight"):  # norms
                parameter.copy_(1.0 + 0.1 * torch.randn(parameter.shape, generator=generator))
            elif parameter.dim() == 1:  # biases
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(0.15 * torch.randn(parameter.shape, generator=generator))


def build(root, name, model_class, config, seed):
    torch.manual_seed(seed)
    config._attn_implementation = "eager"  # the plain softmax(QK^T)V path
    model = model_class(config).to(torch.float32).eval()
    widen_weights(model, torch.Generator().manual_seed(seed))
    model.tie_weights()

    ids = torch.randint(3, VOCAB, (2, PROMPT_LENGTH), generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float().contiguous()  # [2, T, V]
        model.generation_config.eos_token_id = None  # greedy ids without stopping, like greedyDecode(..., {})
        model.generation_config.pad_token_id = 0
        generated = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                                   min_new_tokens=NEW_TOKENS, do_sample=False, num_beams=1)
    greedy = generated[:, PROMPT_LENGTH:].contiguous()  # [2, N]

    folder = os.path.join(root, name)
    model.save_pretrained(folder, safe_serialization=True)
    save_file({"input_ids": ids.to(torch.int64).contiguous(), "logits": logits,
               "greedy_ids": greedy.to(torch.int64)},
              os.path.join(folder, "reference.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__,
                        "seed": str(seed), "model_class": model_class.__name__})
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    if size > 1024 * 1024:
        sys.exit(f"{folder} is {size} bytes: keep each reference folder under 1 MB")
    print(f"{folder}: {size} bytes, logits max |x| {logits.abs().max().item():.3f}, greedy {greedy.tolist()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf-tiny"))
    arguments = parser.parse_args()
    torch.set_num_threads(1)  # identical reductions on every machine
    for seed, (name, model_class, config) in enumerate(architectures(), start=100):
        build(arguments.out, name, model_class, config, seed)


if __name__ == "__main__":
    main()
