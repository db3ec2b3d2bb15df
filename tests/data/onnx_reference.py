#!/usr/bin/env python3
"""Turns an ONNX export made by others (onnxruntime-genai's model builder) into the two things the
ONNX reference test needs. Reads the .onnx with Debian's python3-onnx; writes nothing into the graph's
maths.

    onnx_reference.py rebuild ONNX_DIR HF_DIR
        HF_DIR/model.safetensors: the graph's initialisers under Hugging Face names (MatMul weights
        [in, out] transposed back to nn.Linear's [out, in]), in the graph's own dtype, so the values
        are bit for bit those onnxruntime multiplies with.
        HF_DIR/config.json: a LlamaConfig read off the graph (sizes from the initialisers, heads and
        scale from the attention node, epsilon from the norms, positions from the RoPE cache, ids from
        genai_config.json). rope_theta is checked against the graph's own cos/sin tables.

    onnx_reference.py widen ONNX_DIR OUT.onnx
        The same graph computing in float32: float16 initialisers, constants, casts, inputs and outputs
        become float32. The float16 RoPE tables (cos_cache/sin_cache) are recomputed in float32 from
        rope_theta (cos/sin of float32 angles, as transformers computes them), because their float16
        rounding (up to 2.5e-4) would dominate the comparison; every other value is the export's.
        genai_config.json is copied beside OUT.onnx.

Run from the repository root; the test runs `widen` at test time into the build folder.
"""
import json
import math
import os
import re
import shutil
import struct
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

ROPE_THETA_CANDIDATES = (10000.0, 500000.0, 1000000.0)


def load(onnx_dir):
    return onnx.load(os.path.join(onnx_dir, "model.onnx"), load_external_data=True)


def initialisers(model):
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def hf_name(name):
    """Graph initialiser name -> (Hugging Face name, transpose?) or None for non-weights."""
    if name in ("cos_cache", "sin_cache"):
        return None
    if name == "model.embed_tokens.weight":
        return name, False
    if name == "lm_head.MatMul.weight":
        return "lm_head.weight", True
    match = re.fullmatch(r"model\.layers\.(\d+)\.final_norm_layernorm\.weight", name)
    if match:
        return "model.norm.weight", False
    match = re.fullmatch(r"model\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.weight", name)
    if match:
        return name, False
    match = re.fullmatch(r"model\.layers\.(\d+)\.attn\.([qkvo])_proj\.MatMul\.weight", name)
    if match:
        return f"model.layers.{match.group(1)}.self_attn.{match.group(2)}_proj.weight", True
    match = re.fullmatch(r"model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.MatMul\.weight", name)
    if match:
        return f"model.layers.{match.group(1)}.mlp.{match.group(2)}_proj.weight", True
    sys.exit(f"onnx_reference: no Hugging Face name for initialiser {name!r}")


def rope_theta(cos_cache, head_dim):
    positions = np.arange(cos_cache.shape[0], dtype=np.float64)[:, None]
    for theta in ROPE_THETA_CANDIDATES:
        inverse = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
        if np.abs(np.cos(positions * inverse) - cos_cache.astype(np.float64)).max() < 1e-3:
            return theta
    sys.exit("onnx_reference: the graph's cos_cache matches none of the RoPE bases " + str(ROPE_THETA_CANDIDATES))


def write_safetensors(path, tensors, metadata):
    codes = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        data = array.tobytes()
        header[name] = {"dtype": codes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def rebuild(onnx_dir, hf_dir):
    model = load(onnx_dir)
    weights = initialisers(model)
    genai = json.load(open(os.path.join(onnx_dir, "genai_config.json")))["model"]
    attention = [n for n in model.graph.node if n.op_type in ("MultiHeadAttention", "GroupQueryAttention")]
    norms = [n for n in model.graph.node if n.op_type.endswith("SimplifiedLayerNormalization")]
    heads = attributes(attention[0])["num_heads"]
    kv_heads = attributes(attention[0]).get("kv_num_heads", heads)
    vocab, hidden = weights["model.embed_tokens.weight"].shape
    head_dim = hidden // heads
    scale = attributes(attention[0]).get("scale", 1.0 / math.sqrt(head_dim))
    if abs(scale - 1.0 / math.sqrt(head_dim)) > 1e-6:
        sys.exit(f"onnx_reference: attention scale {scale} is not 1/sqrt(head_dim {head_dim})")
    layers = len(attention)
    epsilon = float(np.float32(attributes(norms[0])["epsilon"]))
    tensors = {}
    for name, value in weights.items():
        mapped = hf_name(name)
        if mapped:
            tensors[mapped[0]] = value.T if mapped[1] else value
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": int(vocab),
        "hidden_size": int(hidden),
        "intermediate_size": int(tensors["model.layers.0.mlp.gate_proj.weight"].shape[0]),
        "num_hidden_layers": layers,
        "num_attention_heads": int(heads),
        "num_key_value_heads": int(kv_heads),
        "head_dim": int(head_dim),
        "hidden_act": "silu",
        "max_position_embeddings": int(weights["cos_cache"].shape[0]),
        "rms_norm_eps": float("%.6g" % epsilon),
        "rope_theta": rope_theta(weights["cos_cache"], head_dim),
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": genai["bos_token_id"],
        "eos_token_id": genai["eos_token_id"],
        "pad_token_id": genai["pad_token_id"],
        "torch_dtype": "float16",
    }
    os.makedirs(hf_dir, exist_ok=True)
    with open(os.path.join(hf_dir, "config.json"), "w") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    write_safetensors(os.path.join(hf_dir, "model.safetensors"), tensors,
                      {"format": "pt", "source": "initialisers of the onnxruntime-genai export (onnx_reference.py)"})
    print(f"{hf_dir}: {len(tensors)} tensors, config {config}")


def widen(onnx_dir, out_path):
    model = load(onnx_dir)
    graph = model.graph
    weights = initialisers(model)
    head_dim = weights["cos_cache"].shape[1] * 2
    theta = rope_theta(weights["cos_cache"], head_dim)
    inverse = (1.0 / (np.float32(theta) ** (np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32)
                                            / np.float32(head_dim)))).astype(np.float32)
    angles = np.arange(weights["cos_cache"].shape[0], dtype=np.float32)[:, None] * inverse[None, :]
    replaced = {"cos_cache": np.cos(angles.astype(np.float64)).astype(np.float32),
                "sin_cache": np.sin(angles.astype(np.float64)).astype(np.float32)}
    new_initialisers = []
    for tensor in graph.initializer:
        value = replaced.get(tensor.name, numpy_helper.to_array(tensor))
        if value.dtype == np.float16:
            value = value.astype(np.float32)
        new_initialisers.append(numpy_helper.from_array(value, tensor.name))
    del graph.initializer[:]
    graph.initializer.extend(new_initialisers)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "to" and attribute.i == TensorProto.FLOAT16:
                attribute.i = TensorProto.FLOAT
            if attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == TensorProto.FLOAT16:
                value = numpy_helper.to_array(attribute.t).astype(np.float32)
                attribute.t.CopyFrom(numpy_helper.from_array(value, attribute.t.name))
    for value_info in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value_info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value_info.type.tensor_type.elem_type = TensorProto.FLOAT
    onnx.save(model, out_path)
    shutil.copyfile(os.path.join(onnx_dir, "genai_config.json"),
                    os.path.join(os.path.dirname(os.path.abspath(out_path)), "genai_config.json"))
    print(f"{out_path}: float32 graph, RoPE tables recomputed for theta {theta}")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("rebuild", "widen"):
        sys.exit(__doc__)
    (rebuild if sys.argv[1] == "rebuild" else widen)(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
