#!/usr/bin/env python3
"""Helpers for the PEFT scripts that need neither torch nor transformers (standard library, numpy
where it is installed):

- safetensors files read and written by hand (the format: an 8-byte little-endian header length,
  a JSON header of {name: {dtype, shape, data_offsets}}, then the raw little-endian data);
- a PEFT prompt-tuning adapter folder written by hand (adapter_config.json as peft's
  PromptTuningConfig serialises it, adapter_model.safetensors with the one tensor
  `prompt_embeddings` [k, d] that peft saves for prompt tuning);
- a float64 numpy forward pass of the two checkpoint layouts the PEFT scripts prepare (GPT-2 and
  Llama with Hugging Face tensor names), used only by CPU dry runs as a stand-in reference where
  peft cannot run. It is written from the architectures' definitions (pre-norm blocks, causal
  attention, RoPE with the rotate-half pairing of Hugging Face checkpoints, llama3 frequency
  scaling, grouped-query attention), not taken from transformers, and is never reported as peft.
"""
import json
import math
import os
import struct

try:
    import numpy
except ImportError:  # the dry run's reference forward needs it; the file helpers do not
    numpy = None

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4}


# ---- safetensors ---------------------------------------------------------------------------------
def read_safetensors_header(path):
    with open(path, "rb") as f:
        length = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(length))
    return header, 8 + length


def read_tensor_bytes(path, name):
    """(dtype, shape, raw bytes) of one tensor."""
    header, start = read_safetensors_header(path)
    if name not in header:
        raise KeyError("%s has no tensor %r (it has %s)" % (path, name, sorted(k for k in header if k != "__metadata__")))
    entry = header[name]
    begin, end = entry["data_offsets"]
    with open(path, "rb") as f:
        f.seek(start + begin)
        raw = f.read(end - begin)
    return entry["dtype"], list(entry["shape"]), raw


def read_rows(path, name, rows):
    """Rows of a 2-D F32/BF16/F16 tensor (e.g. embeddings), as lists of Python floats; reads only them."""
    header, start = read_safetensors_header(path)
    entry = header[name]
    width, size = entry["shape"][1], DTYPE_BYTES[entry["dtype"]]
    out = []
    with open(path, "rb") as f:
        for row in rows:
            f.seek(start + entry["data_offsets"][0] + row * width * size)
            out.append(floats_from_bytes(entry["dtype"], f.read(width * size)))
    return out


def floats_from_bytes(dtype, raw):
    """A flat list of Python floats (F32, BF16, F16), without numpy."""
    if dtype == "F32":
        return list(struct.unpack("<%df" % (len(raw) // 4), raw))
    if dtype == "BF16":
        halves = struct.unpack("<%dH" % (len(raw) // 2), raw)
        return list(struct.unpack("<%df" % len(halves), struct.pack("<%dI" % len(halves), *[h << 16 for h in halves])))
    if dtype == "F16":
        return list(struct.unpack("<%de" % (len(raw) // 2), raw))
    raise ValueError("unsupported dtype " + dtype)


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype, shape, raw bytes)} in the order given."""
    header, offset, blobs = {"__metadata__": metadata or {"format": "pt"}}, 0, []
    for name, (dtype, shape, raw) in tensors.items():
        expected = DTYPE_BYTES[dtype] * math.prod(shape)
        if len(raw) != expected:
            raise ValueError("%s: %d bytes for shape %s %s (expected %d)" % (name, len(raw), shape, dtype, expected))
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def f32_bytes(values):
    return struct.pack("<%df" % len(values), *values)


# ---- PEFT prompt-tuning adapters -------------------------------------------------------------------
def peft_prompt_tuning_config(k, dim, base_model, heads=None, layers=None, peft_version=None):
    """adapter_config.json of a PROMPT_TUNING / CAUSAL_LM adapter with RANDOM init, with the fields
    peft's PromptTuningConfig writes (peft serialises with json.dumps(indent=2, sort_keys=True))."""
    config = {
        "auto_mapping": None, "base_model_name_or_path": base_model, "inference_mode": True,
        "num_attention_heads": heads, "num_layers": layers, "num_transformer_submodules": 1,
        "num_virtual_tokens": k, "peft_type": "PROMPT_TUNING", "prompt_tuning_init": "RANDOM",
        "prompt_tuning_init_text": None, "revision": None, "task_type": "CAUSAL_LM", "token_dim": dim,
        "tokenizer_kwargs": None, "tokenizer_name_or_path": None,
    }
    if peft_version:
        config["peft_version"] = peft_version
    return config


def write_peft_adapter(folder, rows, config):
    """rows: k lists of d floats (stored as F32). config: adapter_config.json's dictionary."""
    os.makedirs(folder, exist_ok=True)
    k, d = len(rows), len(rows[0])
    flat = [value for row in rows for value in row]
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"),
                      {"prompt_embeddings": ("F32", [k, d], f32_bytes(flat))})
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")


def read_peft_adapter(folder):
    """(config dict, dtype, shape, raw bytes of prompt_embeddings)."""
    with open(os.path.join(folder, "adapter_config.json")) as f:
        config = json.load(f)
    dtype, shape, raw = read_tensor_bytes(os.path.join(folder, "adapter_model.safetensors"), "prompt_embeddings")
    return config, dtype, shape, raw


# ---- numpy reference forward (dry runs) -------------------------------------------------------------
class ReferenceModel:
    """A float64 forward pass of a GPT-2 or Llama checkpoint folder (config.json + model.safetensors).
    Meant for the tiny dry-run models only: every weight is held in float64."""

    def __init__(self, folder):
        if numpy is None:
            raise RuntimeError("numpy is not installed")
        with open(os.path.join(folder, "config.json")) as f:
            self.config = json.load(f)
        path = os.path.join(folder, "model.safetensors")
        header, start = read_safetensors_header(path)
        self.weights = {}
        with open(path, "rb") as f:
            for name, entry in header.items():
                if name == "__metadata__":
                    continue
                begin, end = entry["data_offsets"]
                f.seek(start + begin)
                raw = f.read(end - begin)
                self.weights[name] = self._array(entry["dtype"], raw).reshape(entry["shape"]).astype(numpy.float64)
        self.kind = self.config.get("model_type")
        if self.kind not in ("gpt2", "llama"):
            raise RuntimeError("the reference forward knows gpt2 and llama, not %r" % self.kind)

    @staticmethod
    def _array(dtype, raw):
        if dtype == "F32":
            return numpy.frombuffer(raw, dtype="<f4")
        if dtype == "BF16":
            return (numpy.frombuffer(raw, dtype="<u2").astype(numpy.uint32) << 16).view(numpy.float32)
        if dtype == "F16":
            return numpy.frombuffer(raw, dtype="<f2")
        raise RuntimeError("unsupported dtype " + dtype)

    def embedding_matrix(self):
        return self.weights["transformer.wte.weight" if self.kind == "gpt2" else "model.embed_tokens.weight"]

    def embed(self, ids):
        return self.embedding_matrix()[numpy.asarray(ids, dtype=numpy.int64)]

    def head(self):
        if self.kind == "llama" and "lm_head.weight" in self.weights:
            return self.weights["lm_head.weight"]
        return self.embedding_matrix()

    def log_probs(self, embeds, last=None):
        """embeds [T, d] (positions 0 … T-1) -> log-softmax of the logits [T, V] (the last `last`
        positions only, when given), float64."""
        hidden = self._gpt2(embeds) if self.kind == "gpt2" else self._llama(embeds)
        if last:
            hidden = hidden[-last:]
        logits = hidden @ self.head().T
        top = logits.max(-1, keepdims=True)
        return logits - top - numpy.log(numpy.exp(logits - top).sum(-1, keepdims=True))

    @staticmethod
    def _causal_attention(q, k, v):
        """q [H, T, Dh], k/v [H, T, Dh] -> [T, H·Dh]."""
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        t = q.shape[1]
        scores = numpy.where(numpy.tril(numpy.ones((t, t), dtype=bool)), scores, -numpy.inf)
        scores = numpy.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        out = scores @ v  # [H, T, Dh]
        return out.transpose(1, 0, 2).reshape(t, -1)

    def _gpt2(self, embeds):
        c, w = self.config, self.weights
        t, d, heads = embeds.shape[0], c["n_embd"], c["n_head"]
        eps = c.get("layer_norm_epsilon", 1e-5)

        def norm(x, prefix):
            mean = x.mean(-1, keepdims=True)
            var = ((x - mean) ** 2).mean(-1, keepdims=True)
            return (x - mean) / numpy.sqrt(var + eps) * w[prefix + ".weight"] + w[prefix + ".bias"]

        def gelu_tanh(x):
            return 0.5 * x * (1.0 + numpy.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

        h = embeds + w["transformer.wpe.weight"][:t]
        for i in range(c["n_layer"]):
            p = "transformer.h.%d." % i
            a = norm(h, p + "ln_1")
            qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
            q, k, v = (x.reshape(t, heads, d // heads).transpose(1, 0, 2) for x in numpy.split(qkv, 3, -1))
            h = h + self._causal_attention(q, k, v) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            m = norm(h, p + "ln_2")
            m = gelu_tanh(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            h = h + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        return norm(h, "transformer.ln_f")

    def _inverse_frequencies(self, head_dim):
        c = self.config
        rope = dict(c.get("rope_scaling") or {})
        rope.update(c.get("rope_parameters") or {})
        theta = rope.get("rope_theta", c.get("rope_theta", 10000.0))
        inverse = 1.0 / theta ** (numpy.arange(0, head_dim, 2, dtype=numpy.float64) / head_dim)
        kind = rope.get("rope_type", rope.get("type", "default"))
        if kind == "llama3":
            # Llama 3.1's frequency rule: keep short wavelengths, divide long ones by `factor`,
            # interpolate linearly (in original_max_position / wavelength) in between.
            factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
            original = rope["original_max_position_embeddings"]
            wavelength = 2 * math.pi / inverse
            smooth = numpy.clip((original / wavelength - low) / (high - low), 0.0, 1.0)
            inverse = (1 - smooth) * inverse / factor + smooth * inverse
        elif kind not in ("default", None):
            raise RuntimeError("the reference forward does not implement rope type %r" % kind)
        return inverse

    def _llama(self, embeds):
        c, w = self.config, self.weights
        t, d = embeds.shape
        heads = c["num_attention_heads"]
        kv_heads = c.get("num_key_value_heads") or heads
        head_dim = c.get("head_dim") or d // heads
        eps = c.get("rms_norm_eps", 1e-6)

        def norm(x, name):
            return x / numpy.sqrt((x ** 2).mean(-1, keepdims=True) + eps) * w[name]

        angles = numpy.outer(numpy.arange(t, dtype=numpy.float64), self._inverse_frequencies(head_dim))  # [T, Dh/2]
        cos = numpy.concatenate([numpy.cos(angles)] * 2, -1)
        sin = numpy.concatenate([numpy.sin(angles)] * 2, -1)

        def rotate(x):  # [H, T, Dh]: pairs (i, i + Dh/2)
            half = head_dim // 2
            turned = numpy.concatenate([-x[..., half:], x[..., :half]], -1)
            return x * cos + turned * sin

        h = embeds.copy()
        for i in range(c["num_hidden_layers"]):
            p = "model.layers.%d." % i
            a = norm(h, p + "input_layernorm.weight")
            q = (a @ w[p + "self_attn.q_proj.weight"].T).reshape(t, heads, head_dim).transpose(1, 0, 2)
            k = (a @ w[p + "self_attn.k_proj.weight"].T).reshape(t, kv_heads, head_dim).transpose(1, 0, 2)
            v = (a @ w[p + "self_attn.v_proj.weight"].T).reshape(t, kv_heads, head_dim).transpose(1, 0, 2)
            group = heads // kv_heads
            k, v = numpy.repeat(rotate(k), group, 0), numpy.repeat(v, group, 0)
            h = h + self._causal_attention(rotate(q), k, v) @ w[p + "self_attn.o_proj.weight"].T
            m = norm(h, p + "post_attention_layernorm.weight")
            gate = m @ w[p + "mlp.gate_proj.weight"].T
            m = (gate / (1.0 + numpy.exp(-gate)) * (m @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
            h = h + m
        return norm(h, "model.norm.weight")
