#!/usr/bin/env python3
"""σ training side by side with Hugging Face PEFT prompt tuning, on the same GPU, model and data.

The task on both sides: k virtual tokens σ before a query z in a frozen causal LM, trained so that
the model given (σ, z) predicts the next token as the model given (c, z) does: forward KL
KL(P_teacher ‖ Q_σ) over the full vocabulary at the position after z, mean over the batch; AdamW
(β 0.9/0.999, ε 1e-8, no weight decay), the same learning-rate schedule (linear warm-up, cosine to
0.1 × peak), gradient-norm clip 1.0, the same batch size and steps, σ initialised from the
embeddings of the context's first k tokens, held-out KL every `eval_every` steps.

    peft_compare.py prepare --work W --cli build/app/softprompt [--tokenizer gpt2-tokenizer.json] [--small]
        W/model: a randomly initialised GPT-2-small-sized model saved by transformers
                 (save_pretrained, safetensors) + tokenizer.json; W/data: context, queries, token ids
    peft_compare.py compare --work W --cli build/app/softprompt --out peft_compare.json [--budget-s 200]
                            [--peak-tflops 989] [--gpu-name NAME] [--small]
        ours (softprompt train, a subprocess) first, then PEFT in this process; writes the JSON.

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

# ---- the experiment --------------------------------------------------------------------------------
FULL = dict(k=16, query_tokens=32, train_queries=256, heldout_queries=64, context_tokens=480, batch=128,
            steps=200, lr=0.01, warmup=10, eval_every=10, seed=0)
SMALL = dict(k=4, query_tokens=8, train_queries=24, heldout_queries=8, context_tokens=96, batch=8, steps=20,
             lr=0.01, warmup=2, eval_every=5, seed=0)
GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024)
GPT2_TINY = dict(n_layer=2, n_embd=64, n_head=2, n_positions=256)
LLAMA_135M = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                  num_key_value_heads=3, max_position_embeddings=2048)

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


def save_with_transformers(folder, arch, vocab, init_range, small, seed):
    import torch
    import transformers
    torch.manual_seed(seed)
    if arch == "gpt2":
        shape = GPT2_TINY if small else GPT2_SMALL
        config = transformers.GPT2Config(vocab_size=vocab, initializer_range=init_range, bos_token_id=vocab - 1,
                                         eos_token_id=vocab - 1, **shape)
        model = transformers.GPT2LMHeadModel(config)
    else:
        shape = dict(LLAMA_135M)
        if small:
            shape.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=256)
        config = transformers.LlamaConfig(vocab_size=vocab, initializer_range=init_range, tie_word_embeddings=True,
                                          bos_token_id=vocab - 1, eos_token_id=vocab - 1, **shape)
        model = transformers.LlamaForCausalLM(config)
    try:
        model.save_pretrained(folder, safe_serialization=True)
    except TypeError:  # releases where safetensors is the only format
        model.save_pretrained(folder)
    return {"created_by": "transformers %s save_pretrained" % transformers.__version__,
            "parameters": sum(p.numel() for p in model.parameters())}


def save_gpt2_without_transformers(folder, vocab, init_range, small, seed):
    """Dry runs without transformers: the same GPT-2 layout (Hugging Face names, Conv1D [in, out]),
    written as safetensors by hand."""
    import numpy
    shape = GPT2_TINY if small else GPT2_SMALL
    d, layers, positions = shape["n_embd"], shape["n_layer"], shape["n_positions"]
    rng = numpy.random.default_rng(seed)
    tensors = {}

    def normal(name, *dims, std=init_range):
        tensors[name] = rng.normal(0.0, std, dims).astype(numpy.float32)

    normal("transformer.wte.weight", vocab, d)
    normal("transformer.wpe.weight", positions, d)
    residual = init_range / math.sqrt(2 * layers)
    for i in range(layers):
        base = "transformer.h.%d." % i
        tensors[base + "ln_1.weight"] = numpy.ones(d, numpy.float32)
        tensors[base + "ln_1.bias"] = numpy.zeros(d, numpy.float32)
        normal(base + "attn.c_attn.weight", d, 3 * d)
        tensors[base + "attn.c_attn.bias"] = numpy.zeros(3 * d, numpy.float32)
        normal(base + "attn.c_proj.weight", d, d, std=residual)
        tensors[base + "attn.c_proj.bias"] = numpy.zeros(d, numpy.float32)
        tensors[base + "ln_2.weight"] = numpy.ones(d, numpy.float32)
        tensors[base + "ln_2.bias"] = numpy.zeros(d, numpy.float32)
        normal(base + "mlp.c_fc.weight", d, 4 * d)
        tensors[base + "mlp.c_fc.bias"] = numpy.zeros(4 * d, numpy.float32)
        normal(base + "mlp.c_proj.weight", 4 * d, d, std=residual)
        tensors[base + "mlp.c_proj.bias"] = numpy.zeros(d, numpy.float32)
    tensors["transformer.ln_f.weight"] = numpy.ones(d, numpy.float32)
    tensors["transformer.ln_f.bias"] = numpy.zeros(d, numpy.float32)
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, value in tensors.items():
        blob = value.tobytes()
        header[name] = {"dtype": "F32", "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": vocab,
              "n_positions": positions, "n_embd": d, "n_layer": layers, "n_head": shape["n_head"], "n_inner": None,
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "initializer_range": init_range,
              "tie_word_embeddings": True, "bos_token_id": vocab - 1, "eos_token_id": vocab - 1,
              "torch_dtype": "float32"}
    write_json(os.path.join(folder, "config.json"), config)
    return {"created_by": "hand-written safetensors (transformers not importable)",
            "parameters": int(sum(v.size for v in tensors.values()))}


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
    while len(sentences) > 1:
        ids = cli_tokenize(cli, tokenizer, [" ".join(sentences)], data_dir)[0]
        if len(ids) <= spec["context_tokens"]:
            break
        sentences.pop()
    context = " ".join(sentences)
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


def prepare(args):
    spec = SMALL if args.small else FULL
    work = os.path.abspath(args.work)
    model_dir, data_dir = os.path.join(work, "model"), os.path.join(work, "data")
    for folder in (model_dir, data_dir):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    facts = {"spec": spec, "arch": args.arch, "init_range": args.init_range}
    tokenizer = os.path.join(model_dir, "tokenizer.json")
    if args.tokenizer and os.path.exists(args.tokenizer):
        shutil.copy(args.tokenizer, tokenizer)
        facts["tokenizer"] = "GPT-2 tokenizer.json (carried)"
    else:
        byte_level_tokenizer(tokenizer)
        facts["tokenizer"] = "byte-level tokenizer.json written here (no GPT-2 tokenizer carried)"
    vocab = tokenizer_vocab_size(tokenizer)
    start = time.time()
    try:
        facts["model"] = save_with_transformers(model_dir, args.arch, vocab, args.init_range, args.small, spec["seed"])
    except Exception as error:  # noqa: BLE001 - recorded, and the JSON says who made the model
        if args.arch != "gpt2":
            raise
        log("transformers could not make the model (%s: %s): writing the GPT-2 checkpoint by hand" %
            (type(error).__name__, error))
        facts["model"] = save_gpt2_without_transformers(model_dir, vocab, args.init_range, args.small, spec["seed"])
        facts["model"]["transformers_error"] = "%s: %s" % (type(error).__name__, error)
    facts["model"]["seconds"] = round(time.time() - start, 2)
    facts["model"]["config"] = json.load(open(os.path.join(model_dir, "config.json")))
    facts["model"]["files"] = sorted(os.listdir(model_dir))
    facts["data"] = make_data(args.cli, tokenizer, data_dir, spec, spec["seed"])
    write_json(os.path.join(work, "prepare.json"), facts)
    log("prepared %s (%s parameters) and %s" % (facts["model"]["created_by"], facts["model"]["parameters"],
                                                 json.dumps(facts["data"])))


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


FLOP_FORMULA = ("per step, B rows of T = k + m tokens, weights frozen (forward + gradients to the inputs "
                "only): B·[4·N·T + 12·H·Dh·L·T(T+1)/2 + 4·d·V], N = weights of the layers' matrix "
                "products, the attention term counts causal (query, key) pairs at 2 FLOPs per multiply-add "
                "(forward 1×, backward 2×), the head is applied at the one scored position per row; the "
                "same task FLOPs for both sides, whatever each executes")


def step_flops(shape, batch, k, m):
    t = k + m
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

    context = torch.tensor(ids["context"], device=device)
    train = torch.tensor(ids["train"], device=device)      # [N, m]
    heldout = torch.tensor(ids["heldout"], device=device)  # [Nh, m]

    # The teacher: log P(· | c, z) at the position after z, full vocabulary, float32.
    start = time.time()
    with torch.no_grad():
        def teacher(rows):
            out = []
            for chunk in rows.split(32):
                full = torch.cat([context.expand(chunk.size(0), -1), chunk], 1)
                out.append(torch.log_softmax(last_logits(model, logits_to_keep, input_ids=full).float(), -1))
            return torch.cat(out)
        teacher_train, teacher_heldout = teacher(train), teacher(heldout)  # [N, V], [Nh, V]
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


def compare(args):
    spec = SMALL if args.small else FULL
    work = os.path.abspath(args.work)
    deadline = time.time() + args.budget_s
    prepared = json.load(open(os.path.join(work, "prepare.json")))
    config = json.load(open(os.path.join(work, "model", "config.json")))
    shape = model_shape(config)
    flops = step_flops(shape, spec["batch"], spec["k"], spec["query_tokens"])
    result = {"spec": spec, "model": {"config": {k: config.get(k) for k in sorted(config) if not isinstance(config[k], dict)},
                                      "created_by": prepared["model"]["created_by"],
                                      "parameters": prepared["model"]["parameters"]},
              "data": prepared["data"], "tokenizer": prepared["tokenizer"], "gpu": args.gpu_name or None,
              "peak_bf16_tflops": args.peak_tflops or None, "flop_formula": FLOP_FORMULA,
              "task_tflop_per_step": flops / 1e12, "runs": {}}
    out = os.path.abspath(args.out)
    write_json(out, result)

    try:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        torch, device = None, "cpu"
    if device == "cpu" and not args.small:
        result["error"] = "no CUDA device: the comparison needs a GPU (use --small for a CPU dry run)"
        write_json(out, result)
        return 1
    result["device"] = device
    low_precision = "bfloat16" if device == "cuda" else "float32"
    peak = args.peak_tflops if device == "cuda" else None

    # 1. ours, bf16, before this process touches the GPU.
    left = deadline - time.time()
    ours = run_ours(args, spec, work, low_precision, spec["steps"], int(left * 0.45), device)
    if "error" not in ours:
        ours.update(summarise_curve(ours.pop("step_seconds"), ours.pop("curve"), flops, peak))
    result["runs"]["ours_" + low_precision] = ours
    write_json(out, result)

    # 2. PEFT, bf16: the idiomatic call (logits at every position), then with logits_to_keep=1.
    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
        have_peft = True
    except ImportError as error:
        have_peft = False
        result["runs"]["peft"] = {"error": "transformers/peft not importable here (%s); the PEFT side runs "
                                           "only on the GPU machine" % error}
    if have_peft:
        for name, keep in (("peft", False), ("peft_logits_to_keep", True)):
            left = deadline - time.time()
            if left < 25:
                result["runs"][name] = {"skipped": "no time left (%.0fs)" % left}
                continue
            try:
                facts = run_peft(args, spec, work, spec["steps"], time.time() + left * (0.5 if not keep else 0.8),
                                 device, keep)
                if "step_seconds" in facts:
                    facts.update(summarise_curve(facts.pop("step_seconds"), facts.pop("curve"), flops, peak))
            except Exception as error:  # noqa: BLE001 - report and go on
                import traceback
                facts = {"error": "%s: %s" % (type(error).__name__, error), "traceback": traceback.format_exc()[-3000:]}
            result["runs"][name] = facts
            write_json(out, result)

    # 3. ours in float32 on the GPU, when time is left (the fp32 CUDA path of the CLI).
    left = deadline - time.time()
    if device == "cuda" and left > 40:
        fp32 = run_ours(args, spec, work, "float32", max(spec["steps"] // 2, 10), int(left - 10), device)
        if "error" not in fp32:
            fp32.update(summarise_curve(fp32.pop("step_seconds"), fp32.pop("curve"), flops, None))
        result["runs"]["ours_float32"] = fp32

    # 4. the comparison.
    ours = result["runs"].get("ours_" + low_precision, {})
    verdict = {}
    for name in ("peft", "peft_logits_to_keep"):
        theirs = result["runs"].get(name, {})
        if not ours.get("steps_per_second") or not theirs.get("steps_per_second"):
            continue
        entry = {"steps_per_second_ratio": ours["steps_per_second"] / theirs["steps_per_second"]}
        if ours.get("final_heldout_kl") is not None and theirs.get("final_heldout_kl") is not None:
            target = max(ours["final_heldout_kl"], theirs["final_heldout_kl"])
            a, b = time_to(ours["heldout_curve"], target), time_to(theirs["heldout_curve"], target)
            entry.update(common_heldout_kl=target, ours_time_to_common_kl=a, peft_time_to_common_kl=b)
            if a and b and a["seconds"] > 0:
                entry["time_to_common_kl_speedup"] = b["seconds"] / a["seconds"]
        verdict[name] = entry
    if ours.get("mfu") is not None:
        verdict["ours_mfu"] = ours["mfu"]
    goal_peft = verdict.get("peft", {}).get("steps_per_second_ratio")
    verdict["goal"] = {"steps_per_second_at_least_2x_peft": None if goal_peft is None else goal_peft >= 2.0,
                       "mfu_at_least_40_percent_bf16": None if ours.get("mfu") is None else ours["mfu"] >= 0.40}
    result["comparison"] = verdict
    write_json(out, result)
    log("comparison: " + json.dumps(verdict))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--work", required=True)
    p.add_argument("--cli", required=True)
    p.add_argument("--tokenizer")
    p.add_argument("--arch", choices=("gpt2", "llama"), default="gpt2")
    p.add_argument("--init-range", type=float, default=0.1,
                   help="initializer_range: 0.1 gives peaked, context-dependent predictions (0.02 is near-uniform)")
    p.add_argument("--small", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("--work", required=True)
    c.add_argument("--cli", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--budget-s", type=float, default=200)
    c.add_argument("--peak-tflops", type=float, default=0)
    c.add_argument("--gpu-name", default="")
    c.add_argument("--small", action="store_true")
    args = parser.parse_args()
    return prepare(args) if args.command == "prepare" else compare(args)


if __name__ == "__main__":
    sys.exit(main() or 0)
