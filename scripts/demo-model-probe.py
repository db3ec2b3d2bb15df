#!/usr/bin/env python3
"""Where does the demo model look when it answers? A diagnostic for models made by pretrain-demo.

    scripts/demo-model-probe.py [MODEL_DIR] [--contexts 6] [--seed 777]

For fresh corpus contexts it prints, per asked fact, whether the model's next token after
"<greeting>!" is the fact's value, and which attention heads look at the value's position from
there. Then, per fact, the layer-0 attention score of each value token as seen from "!": a value a
layer-0 head looks at for its own sake, whatever the question asks (docs/demo-model.md, "Why some
facts fail").

It re-implements the Llama forward pass in numpy (float64), independently of the C++ one, so its
predictions are also a cross-check of core/src/model. Needs python3-numpy (Debian) and a built
`softprompt` (build/release/app/softprompt, as scripts/setup.sh builds it, or --softprompt PATH).
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    sys.exit("demo-model-probe: needs numpy; install it with: sudo apt-get install python3-numpy")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_safetensors(path):
    raw = open(path, "rb").read()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_size])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"demo-model-probe: {name} is {info['dtype']}; this probe reads float32 demo models")
        begin, end = info["data_offsets"]
        data = raw[8 + header_size + begin : 8 + header_size + end]
        tensors[name] = np.frombuffer(data, dtype=np.float32).reshape(info["shape"]).astype(np.float64)
    return tensors


class Llama:
    def __init__(self, folder):
        self.config = json.load(open(os.path.join(folder, "config.json")))
        if self.config.get("model_type") != "llama":
            sys.exit("demo-model-probe: only Llama-architecture demo models are supported")
        self.w = load_safetensors(os.path.join(folder, "model.safetensors"))
        self.heads = self.config["num_attention_heads"]
        self.kv_heads = self.config.get("num_key_value_heads", self.heads)
        self.head_dim = self.config.get("head_dim", self.config["hidden_size"] // self.heads)
        self.eps = self.config["rms_norm_eps"]
        self.theta = self.config.get("rope_theta", 10000.0)
        self.embed = self.w["model.embed_tokens.weight"]  # [V, d]
        self.unembed = self.w.get("lm_head.weight", self.embed)  # [V, d]

    def rms(self, x, weight):  # x [T, d]
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * weight

    def rope(self, x, positions):  # x [H, T, hd]: rotate_half convention, as in transformers
        half = self.head_dim // 2
        inverse = 1.0 / self.theta ** (np.arange(0, self.head_dim, 2) / self.head_dim)  # [hd/2]
        angles = np.outer(positions, inverse)  # [T, hd/2]
        angles = np.concatenate([angles, angles], -1)  # [T, hd]
        rotated = np.concatenate([-x[..., half:], x[..., :half]], -1)
        return x * np.cos(angles) + rotated * np.sin(angles)

    def projected(self, layer, name, h, heads):  # h [T, d] -> [heads, T, hd]
        out = h @ self.w[f"model.layers.{layer}.self_attn.{name}_proj.weight"].T
        return out.reshape(len(h), heads, self.head_dim).transpose(1, 0, 2)

    def forward(self, ids):
        """Logits at the last position [V] and each layer's attention from it [layers][H, T]."""
        T = len(ids)
        x = self.embed[ids]  # [T, d]
        positions = np.arange(T)
        causal = np.triu(np.full((T, T), -np.inf), 1)  # [T, T]
        attention_from_last = []
        for layer in range(self.config["num_hidden_layers"]):
            prefix = f"model.layers.{layer}."
            h = self.rms(x, self.w[prefix + "input_layernorm.weight"])
            q = self.rope(self.projected(layer, "q", h, self.heads), positions)  # [H, T, hd]
            k = self.rope(self.projected(layer, "k", h, self.kv_heads), positions)  # [Hkv, T, hd]
            v = self.projected(layer, "v", h, self.kv_heads)  # [Hkv, T, hd]
            group = self.heads // self.kv_heads
            k, v = np.repeat(k, group, 0), np.repeat(v, group, 0)  # [H, T, hd]
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(self.head_dim) + causal  # [H, T, T]
            scores -= scores.max(-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(-1, keepdims=True)
            attention_from_last.append(weights[:, -1, :])
            mixed = (weights @ v).transpose(1, 0, 2).reshape(T, -1)  # [T, H*hd]
            x = x + mixed @ self.w[prefix + "self_attn.o_proj.weight"].T
            h = self.rms(x, self.w[prefix + "post_attention_layernorm.weight"])
            gate = h @ self.w[prefix + "mlp.gate_proj.weight"].T  # [T, I]
            up = h @ self.w[prefix + "mlp.up_proj.weight"].T  # [T, I]
            x = x + (gate / (1.0 + np.exp(-gate)) * up) @ self.w[prefix + "mlp.down_proj.weight"].T
        last = self.rms(x[-1:], self.w["model.norm.weight"])[0]  # [d]
        return self.unembed @ last, attention_from_last

    def layer0_scores(self, query_id, key_ids):
        """Layer-0 attention logits from one token to others, per head, without position [H, K]."""
        prefix = "model.layers.0."
        h = self.rms(self.embed[[query_id] + list(key_ids)], self.w[prefix + "input_layernorm.weight"])
        q = self.projected(0, "q", h[:1], self.heads)[:, 0, :]  # [H, hd]
        k = np.repeat(self.projected(0, "k", h[1:], self.kv_heads), self.heads // self.kv_heads, 0)
        return np.einsum("hd,hkd->hk", q, k) / np.sqrt(self.head_dim)  # [H, K]


def run_cli(softprompt, args, stdin=None):
    done = subprocess.run([softprompt] + args, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"demo-model-probe: {softprompt} {args[0]} failed: {done.stderr.strip()}\n"
                 "Is that build current? Rebuild it (scripts/setup.sh) or pass --softprompt PATH.")
    return done.stdout


def fact_values():
    """{attribute: [values]} parsed from the corpus's word lists (core/src/demo/demo_vocabulary.cpp)."""
    source = open(os.path.join(ROOT, "core/src/demo/demo_vocabulary.cpp")).read()
    lists = {}
    for function, attribute in [("assistantNames", "name"), ("cities", "city"), ("colours", "colour"),
                                ("mascots", "mascot"), ("codeWords", "code"), ("managers", "manager")]:
        body = re.search(function + r"\(\)\n\{\n    static const std::vector<std::string_view> list = \{(.*?)\};",
                         source, re.S)
        lists[attribute] = re.findall(r'"([^"]+)"', body.group(1))
    return lists


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=os.path.join(ROOT, "resources/demo-model"))
    parser.add_argument("--contexts", type=int, default=6)
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--softprompt", default=os.path.join(ROOT, "build/release/app/softprompt"))
    args = parser.parse_args()
    if not os.access(args.softprompt, os.X_OK):
        sys.exit(f"demo-model-probe: no softprompt at {args.softprompt}; build the project or pass --softprompt")

    model = Llama(args.model)
    vocab = json.load(open(os.path.join(args.model, "tokenizer.json")))["model"]["vocab"]
    names = {index: token.replace("Ġ", " ") for token, index in vocab.items()}

    # One query per stated fact of each context, teacher-forced up to the value: "<greeting>!".
    corpus = run_cli(args.softprompt, ["demo-corpus", "--n", str(args.contexts), "--seed", str(args.seed)])
    decoder, at, prompts = json.JSONDecoder(), 0, []
    while at < len(corpus):
        if corpus[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(corpus, at)
        stated = dict(rule.split(": ", 1) for rule in document["rules"])
        asked = set()
        for query in document["queries"]:
            if query["attribute"] not in asked:
                asked.add(query["attribute"])
                greeting = query["answer"].split("!")[0]
                prompts.append((query["attribute"], stated[query["attribute"]],
                                document["context"] + query["query"] + greeting + "!"))
    encoded = run_cli(args.softprompt, ["tokenize", "--tokenizer", args.model, "--jsonl", "-"],
                      "\n".join(json.dumps(text) for _, _, text in prompts))
    print("fact      value      answer              p(value)  heads that look at the value (attention mass)")
    for (attribute, value, _), line in zip(prompts, encoded.splitlines()):
        ids = json.loads(line)
        value_id = vocab["Ġ" + value]
        logits, attention = model.forward(np.array(ids))
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        at_value = [i for i, token in enumerate(ids) if token == value_id]
        looks = sorted(((float(attention[l][h][at_value].sum()), l, h) for l in range(len(attention))
                        for h in range(model.heads)), reverse=True)[:3]
        answer = names[int(probabilities.argmax())]
        print(f"{attribute:9} {value:10} {'ok' if answer.strip() == value else '--'} {answer:15} "
              f"{probabilities[value_id]:8.2f}  " + "  ".join(f"L{l}H{h} {m:.2f}" for m, l, h in looks))

    print("\nLayer-0 attention logits from '!' to each value (per head; filler words score about "
          + ", ".join(f"{s:.0f}" for s in model.layer0_scores(vocab["!"], [vocab["Ġthe"]])[:, 0]) + "):")
    for attribute, values in fact_values().items():
        scores = model.layer0_scores(vocab["!"], [vocab["Ġ" + v] for v in values])  # [H, K]
        spread = "  ".join(f"H{h} {scores[h].min():6.1f}..{scores[h].max():6.1f}" for h in range(model.heads))
        strongest = int(np.argmax(scores.max(1) - np.median(scores, 1)))
        order = np.argsort(-scores[strongest])
        print(f"{attribute:8} {spread}\n         H{strongest} from high to low: "
              + " ".join(f"{values[i]} {scores[strongest][i]:.0f}" for i in order))


if __name__ == "__main__":
    main()
