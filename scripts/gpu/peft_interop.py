#!/usr/bin/env python3
"""PEFT interop, checked in peft itself (issue #20, part 3), on a model folder that
`peft_compare.py prepare` made (W/model, W/data, W/prepare.json):

  A. ours → peft: σ trained by our CLI (`softprompt train --db`), `softprompt runs export ID --peft DIR`,
     loaded with `PeftModel.from_pretrained(base, DIR)`; peft's log-probabilities compared with ours
     for the same inputs: `softprompt generate --run ID --condition all --top-k 100 --json` (the top-100
     next-token probabilities at each of the first G greedy positions, under σ, the full context and
     no context) and `softprompt eval --run ID --queries --json` (each held-out query's top-10 under σ,
     and its KL to the teacher over the full vocabulary).
  B. peft → ours: a prompt-tuning adapter trained in peft (a few steps, the same KL task) and saved
     with save_pretrained, `softprompt runs import-peft DIR`, evaluated here with `softprompt generate
     --run NEW --condition all` and compared with peft's own evaluation of the same adapter.

    peft_interop.py --work W --cli build/app/softprompt --out peft_interop.json [--device cuda]
                    [--queries N] [--budget-s S] [--small]

One call handles one shape (the one W was prepared for); the results go under "shapes" in --out, so
one file collects both shapes of gpu-check.sh.

The BOS slot (core/src/engine/README.md, "Layout: where BOS goes"): our engine trains and evaluates
[BOS] σ z; peft's prompt tuning puts its virtual tokens before everything, σ [BOS] z. Without a BOS
(GPT-2) the two are the same, and peft's usual call is compared with ours as it is. With a BOS
(the Llama-3.2-1B shape) peft reproduces our layout when σ's adapter carries the BOS embedding as its
first row and the input has no BOS: an adapter folder [emb(BOS); σ] is written next to the exported
one (the README's "prepend it to σ's embeddings") and loaded with PeftModel.from_pretrained as well.
The exported adapter in peft's own layout (σ [BOS] z) is measured too, as a control: it shows how far
apart the two layouts are, i.e. that the tolerance would catch a layout error.

Tolerance (float32 on both sides; on the GPU machine, ours on CUDA and peft on CUDA, TF32 off): our CLI
reports probabilities (softmax in float64 of float32 logits, printed with 17 significant digits), so
the comparison is in log-probabilities, log p = logit − logsumexp: equal log-probabilities mean equal
logits up to one shift per position. A position passes when every reported id's |Δ log p| ≤
max(1e-3, 1e-5 · (the spread of the reported log-probabilities)), and peft's top-1 is our top-1
wherever peft's top-2 margin exceeds 1e-3 nats; a query's KL passes within 1e-3 + 1e-3 · KL. Why
1e-3: float32 differs between two implementations only by summation order; test_cuda measures float32
logits within 5e-6 of float64 on small models, and 12-16 layers of width 768-2048 grow that to about
1e-4. A layout error (σ one slot off, BOS missing) moves log-probabilities by tenths of a nat and
more: the control reports by how much.

Without torch/transformers/peft (a CPU dry run) our side runs for real (train, export, import,
generate, eval) and the adapter peft would train is written by hand (adapter_config.json as peft's
PromptTuningConfig writes it, adapter_model.safetensors with `prompt_embeddings`); every peft check
is recorded as skipped with the reason, never as passed. Where numpy is installed and the model is
small, a float64 numpy forward (hf_reference.py) stands in for peft so that the comparison code runs
end to end; those checks are labelled "reference (not peft)" and count for nothing in the verdict.
"""
import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference  # noqa: E402
from peft_compare import load_hf, write_json  # noqa: E402

try:
    import numpy
except ImportError:
    numpy = None

TOLERANCE = {
    "logp_abs": 1e-3, "logp_rel_to_spread": 1e-5, "top1_margin": 1e-3, "kl_abs": 1e-3, "kl_rel": 1e-3,
    "what": "per reported id |Δ log p| ≤ max(logp_abs, logp_rel_to_spread · spread of the reported log p); "
            "peft's top-1 = ours where peft's top-2 margin > top1_margin; per query |ΔKL| ≤ kl_abs + kl_rel · KL",
    "dtype": "float32 on both sides (TF32 off on the peft side; LibTorch's default, off, on ours)",
}
# One call per shape; the GPU defaults fit gpu-check.sh's caps (docs/gpu-check.md), --small a CPU dry run.
DEFAULTS = {
    "gpu": dict(k=8, ours_steps=40, batch=16, train_queries=64, heldout_queries=16, queries=2, max_new=4,
                peft_steps=20, lr=0.01),
    "small": dict(k=4, ours_steps=10, batch=8, train_queries=16, heldout_queries=8, queries=2, max_new=4,
                  peft_steps=10, lr=0.01),
}
# The peft checks of one shape; the round trip passes only when each of them ran and passed.
PEFT_CHECKS = {
    "a_load": "ours → peft: PeftModel.from_pretrained(base, exported folder) loads σ bit for bit",
    "a_generate": "ours → peft: peft's log-probabilities = ours (generate: σ, full context, no context; top-100 "
                  "at each greedy position)",
    "a_eval": "ours → peft: peft's held-out top-10 log-probabilities and KL = ours (eval --queries)",
    "b_train": "peft → ours: an adapter trained in peft, saved with save_pretrained",
    "b_load": "peft → ours: the adapter trained in peft loads in PeftModel.from_pretrained",
    "b_generate": "peft → ours: ours on the imported adapter = peft on the same adapter (generate: σ, full, "
                  "none; top-100 at each greedy position)",
    "b_evaluation": "peft → ours: our evaluation of the imported adapter = peft's own (top-1 agreement with "
                    "the full context, query by query)",
}
REFERENCE_MAX_PARAMETERS = 50_000_000  # the numpy stand-in holds float64 weights: tiny models only


def log(message):
    print("[peft_interop] " + message, file=sys.stderr, flush=True)


# ---- checks ----------------------------------------------------------------------------------------------
class Checks:
    """Every check: a name, a group (cli: our side, runs everywhere; peft: needs peft; reference: the dry
    run's numpy stand-in, not peft) and a status: passed, failed, skipped (with the reason), error or info."""

    def __init__(self):
        self.items = []

    def add(self, name, group, status, **details):
        entry = {"name": name, "group": group, "status": status}
        entry.update(details)
        self.items.append(entry)
        log("%-8s %-9s %s%s" % (status, group, name, (": " + details["reason"]) if "reason" in details else ""))
        return entry

    def passed_if(self, name, group, ok, **details):
        return self.add(name, group, "passed" if ok else "failed", **details)

    def judged_on(self, items, name, group, ok, **details):
        """A check over queries: skipped (never passed) when the budget left none to compare."""
        if not items:
            return self.add(name, group, "skipped", reason="the budget ran out before any query was compared")
        return self.passed_if(name, group, ok, **details)


def verdict(checks, shapes=1):
    """The round trip passes in peft only when every peft check (PEFT_CHECKS, per shape) ran and passed;
    a check that was skipped or never reached (budget, an error before it) leaves it not proven."""
    counts = {}
    for item in checks:
        key = "%s_%s" % (item["group"], item["status"])
        counts[key] = counts.get(key, 0) + 1
    peft_items = [c for c in checks if c["group"] == "peft"]
    cli_items = [c for c in checks if c["group"] == "cli"]
    failed = [c["name"] for c in peft_items + cli_items if c["status"] in ("failed", "error")]
    skipped = [c for c in peft_items if c["status"] == "skipped"]
    ran = [c for c in peft_items if c["status"] == "passed"]
    missing = len(PEFT_CHECKS) * shapes - len(ran) - len(skipped)
    if failed:
        round_trip, why = False, "failed: " + "; ".join(failed)
    elif skipped or missing > 0:
        reasons = sorted({c.get("reason", "?") for c in skipped})
        parts = []
        if skipped:
            parts.append("%d peft check(s) skipped (%s)" % (len(skipped), "; ".join(reasons)))
        if missing > 0:
            parts.append("%d peft check(s) never ran" % missing)
        round_trip, why = None, "not proven: " + ", ".join(parts)
    else:
        round_trip, why = True, "every peft check passed (%d)" % len(ran)
    return {"peft_round_trip_passes": round_trip, "status": why, "counts": counts,
            "our_side_passes": (False if any(c["status"] in ("failed", "error") for c in cli_items) else
                                None if not cli_items or any(c["status"] == "skipped" for c in cli_items) else
                                True)}


# ---- our CLI -----------------------------------------------------------------------------------------------
class Cli:
    def __init__(self, path, logs):
        self.path, self.logs, self.calls = path, logs, []

    def __call__(self, *args, timeout=300, parse_json=False):
        command = [self.path] + [str(a) for a in args]
        start = time.time()
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        seconds = time.time() - start
        self.calls.append({"command": " ".join(command[1:])[:400], "seconds": round(seconds, 2),
                           "exit": done.returncode})
        with open(self.logs, "a") as f:
            f.write("$ softprompt %s\n[exit %d, %.1fs]\n%s\n" % (" ".join(command[1:]), done.returncode, seconds,
                                                                done.stderr[-4000:]))
        if done.returncode != 0:
            raise RuntimeError("softprompt %s exited %d: %s" % (args[0], done.returncode, done.stderr.strip()[-1500:]))
        return json.loads(done.stdout) if parse_json else done.stdout


# ---- comparisons -------------------------------------------------------------------------------------------
def compare_position(ours_top, reference_logp):
    """ours_top: [{id, probability}] (our top-k at one position); reference_logp: [V] float64 log-probs.
    Returns the position's figures and whether it is within the tolerance."""
    ids = [t["id"] for t in ours_top if t["probability"] > 0]
    ours = [math.log(t["probability"]) for t in ours_top if t["probability"] > 0]
    theirs = [float(reference_logp[i]) for i in ids]
    deltas = [abs(a - b) for a, b in zip(ours, theirs)]
    spread = max(ours) - min(ours) if ours else 0.0
    bound = max(TOLERANCE["logp_abs"], TOLERANCE["logp_rel_to_spread"] * spread)
    order = numpy.argsort(reference_logp)[::-1][:2]
    margin = float(reference_logp[order[0]] - reference_logp[order[1]])
    ours_top1 = max(ours_top, key=lambda t: t["probability"])["id"]
    top1_ok = int(order[0]) == ours_top1 or margin <= TOLERANCE["top1_margin"]
    max_delta = max(deltas) if deltas else None
    return {"ids": len(ids), "max_abs_dlogp": max_delta, "bound": bound, "top1_ours": ours_top1,
            "top1_reference": int(order[0]), "reference_top2_margin": margin,
            "ok": bool(deltas) and max_delta <= bound and top1_ok}


def summarise_positions(rows):
    worst = max((r["max_abs_dlogp"] for r in rows if r["max_abs_dlogp"] is not None), default=None)
    return {"positions": len(rows), "max_abs_dlogp": worst, "all_within": all(r["ok"] for r in rows) and bool(rows),
            "top1_mismatches": sum(1 for r in rows if r["top1_ours"] != r["top1_reference"])}


def kl(teacher_logp, student_logp):
    return float((numpy.exp(teacher_logp) * (teacher_logp - student_logp)).sum())


# ---- backends: peft (the real check) and the numpy stand-in -------------------------------------------------
class PeftBackend:
    group = "peft"
    label = "peft"

    def __init__(self, model_dir, device):
        import torch
        import transformers
        import peft
        self.torch, self.peft = torch, peft
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        self.device = device
        start = time.time()
        self.base = load_hf(model_dir, torch.float32, device)
        for parameter in self.base.parameters():
            parameter.requires_grad_(False)
        self.facts = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                      "device": device, "base_load_seconds": round(time.time() - start, 2),
                      "attn_implementation": getattr(self.base.config, "_attn_implementation", None)}
        self.models = {}

    def load(self, folder, config_override=None):
        kwargs = {"config": config_override} if config_override is not None else {}
        model = self.peft.PeftModel.from_pretrained(self.base, folder, **kwargs)
        model.eval()
        self.models[folder] = model
        return folder

    def random_init_config(self, folder):
        config = self.peft.PromptTuningConfig.from_pretrained(folder)
        config.prompt_tuning_init = self.peft.PromptTuningInit.RANDOM
        config.prompt_tuning_init_text = None
        config.tokenizer_name_or_path = None
        return config

    def loaded_values(self, handle):
        model = self.models[handle]
        weight = model.prompt_encoder[model.active_adapter].embedding.weight
        return weight.detach().float().cpu().numpy()

    def embed(self, ids):
        with self.torch.no_grad():
            rows = self.base.get_input_embeddings().weight[self.torch.tensor(ids, device=self.device)]
        return rows.float().cpu().numpy()

    def _logp(self, model, ids, last):
        torch = self.torch
        x = torch.tensor([ids], device=self.device)
        with torch.no_grad():
            logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0, -last:]
        return torch.log_softmax(logits.double(), -1).cpu().numpy()

    def sigma_logp(self, handle, ids, last):
        """peft's prompt tuning: its virtual tokens, then `ids`."""
        return self._logp(self.models[handle], ids, last)

    def base_logp(self, ids, last):
        return self._logp(self.base, ids, last)

    def train(self, folder, k, init_ids, student_rows, teacher_rows, steps, lr, batch, seed):
        """A prompt-tuning adapter trained in peft on the KL task (forward KL over the full vocabulary at the
        next-token target, AdamW, clip 1), saved with save_pretrained."""
        torch, peft = self.torch, self.peft
        start = time.time()
        with torch.no_grad():
            teacher = torch.cat([torch.log_softmax(
                self.base(input_ids=torch.tensor([row], device=self.device)).logits[:, -1].double(), -1).float()
                for row in teacher_rows])  # [N, V]
        config = peft.PromptTuningConfig(task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=k,
                                         prompt_tuning_init=peft.PromptTuningInit.RANDOM)
        try:
            model = peft.get_peft_model(self.base, config)
        except Exception as error:  # noqa: BLE001 - the base already wrapped by the loaded adapters
            log("get_peft_model on the shared base failed (%s); loading a fresh base" % error)
            self.base = load_hf(self.base.name_or_path, torch.float32, self.device)
            for parameter in self.base.parameters():
                parameter.requires_grad_(False)
            model = peft.get_peft_model(self.base, config)
        embedding = model.prompt_encoder[model.active_adapter].embedding
        with torch.no_grad():  # as our --init text: embeddings of the context's first k tokens
            embedding.weight.copy_(self.base.get_input_embeddings().weight[torch.tensor(init_ids, device=self.device)])
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        rows = torch.tensor(student_rows, device=self.device)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        losses = []  # the model stays in eval mode: no dropout (GPT-2's config has 0.1), as in peft_compare.py
        for _ in range(steps):
            index = torch.randperm(rows.size(0), generator=generator)[:batch].to(self.device)
            x = rows[index]
            q = torch.log_softmax(model(input_ids=x, attention_mask=torch.ones_like(x)).logits[:, -1].float(), -1)
            target = teacher[index]
            loss = (target.exp() * (target - q)).sum(-1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            losses.append(loss.item())
        try:
            model.save_pretrained(folder, safe_serialization=True)
        except TypeError:
            model.save_pretrained(folder)
        del model, optimizer
        return {"trained_by": "peft %s get_peft_model + save_pretrained" % peft.__version__, "steps": steps,
                "initial_train_kl": losses[0] if losses else None, "final_train_kl": losses[-1] if losses else None,
                "seconds": round(time.time() - start, 2)}


class ReferenceBackend:
    """The dry run's stand-in for peft: the same semantics (virtual tokens first, then the input ids) on a
    float64 numpy forward. Never reported as peft."""
    group = "reference"
    label = "numpy reference (not peft)"

    def __init__(self, model_dir):
        start = time.time()
        self.model = hf_reference.ReferenceModel(model_dir)
        self.adapters = {}
        self.facts = {"numpy": numpy.__version__, "load_seconds": round(time.time() - start, 2),
                      "note": "float64 numpy forward (hf_reference.py) standing in for peft in a dry run"}

    def load(self, folder, config_override=None):
        config, dtype, shape, raw = hf_reference.read_peft_adapter(folder)
        values = numpy.array(hf_reference.floats_from_bytes(dtype, raw), dtype=numpy.float64).reshape(shape)
        self.adapters[folder] = values
        return folder

    def random_init_config(self, folder):
        return None

    def loaded_values(self, handle):
        return self.adapters[handle].astype(numpy.float32)

    def embed(self, ids):
        return self.model.embed(ids).astype(numpy.float32)

    def sigma_logp(self, handle, ids, last):
        embeds = numpy.concatenate([self.adapters[handle], self.model.embed(ids)], 0)
        return self.model.log_probs(embeds, last)

    def base_logp(self, ids, last):
        return self.model.log_probs(self.model.embed(ids), last)


def make_backend(model_dir, device, parameters):
    """(backend or None, reason the peft checks are skipped or None)."""
    try:
        import torch
    except ImportError:
        reason = "torch not installed"
    else:
        try:
            import transformers  # noqa: F401 - only whether they import
            import peft  # noqa: F401
        except ImportError as error:
            reason = "transformers/peft not installed (%s)" % error
        else:
            peft_device = "cuda" if device.startswith("cuda") and torch.cuda.is_available() else "cpu"
            return PeftBackend(model_dir, peft_device), None
    if numpy is None:
        log("no numpy either: no reference stand-in for the peft checks")
        return None, reason
    if parameters > REFERENCE_MAX_PARAMETERS:
        log("the model is too large for the numpy stand-in: no reference checks")
        return None, reason
    return ReferenceBackend(model_dir), reason


# ---- the two directions ---------------------------------------------------------------------------------------
def write_subset(source, target, count):
    with open(source) as f:
        lines = [line for line in f if line.strip()][:count]
    with open(target, "w") as f:
        f.writelines(lines)
    return [json.loads(line)["query"] for line in lines]


def bos_slot_adapter(backend, source, target, prefix):
    """[emb(prefix); σ] as a (k + P)-token adapter: peft then reads [prefix] σ z from input z."""
    config, dtype, shape, raw = hf_reference.read_peft_adapter(source)
    sigma = hf_reference.floats_from_bytes(dtype, raw)
    rows = [list(map(float, row)) for row in backend.embed(prefix)]
    rows += [sigma[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]
    config = dict(config, num_virtual_tokens=len(rows), prompt_tuning_init="RANDOM", prompt_tuning_init_text=None,
                  tokenizer_name_or_path=None)
    config.pop("tokenizer_kwargs", None)
    hf_reference.write_peft_adapter(target, rows, config)
    return target


def compare_generate(backend, generated, ids, prefix, layout_handle, native_handle=None):
    """Our `generate --condition all` output for one query against the backend, condition by condition."""
    rows, out = {}, {}
    for condition in ("sigma", "full", "none"):
        tokens = generated["conditions"].get(condition, {}).get("tokens", [])
        if not tokens:
            continue
        g = [t["id"] for t in tokens]
        z = ids["query"] + g[:-1]
        if condition == "sigma":  # our layout: the adapter as it is, or [emb(prefix); σ] with a prefix
            logp = backend.sigma_logp(layout_handle, z, len(g))
        elif condition == "full":
            logp = backend.base_logp(prefix + ids["context"] + z, len(g))
        else:
            logp = backend.base_logp(prefix + z, len(g))
        rows[condition] = [compare_position(t["top_k"], logp[i]) for i, t in enumerate(tokens)]
        out[condition] = summarise_positions(rows[condition])
        if condition == "sigma" and native_handle is not None:
            native = backend.sigma_logp(native_handle, prefix + z, len(g))
            control = [compare_position(t["top_k"], native[i]) for i, t in enumerate(tokens)]
            out["sigma_in_peft_native_layout"] = summarise_positions(control)
    return out


def prompt_lengths_check(generated, prefix, context_len, k, query_len):
    expected = {"full": len(prefix) + context_len + query_len, "sigma": len(prefix) + k + query_len,
                "none": len(prefix) + query_len}
    found = {c: generated["conditions"][c]["prompt_tokens"] for c in expected if c in generated["conditions"]}
    return found == {c: expected[c] for c in found}, {"expected": expected, "found": found}


def run(args):
    work = os.path.abspath(args.work)
    prepared = json.load(open(os.path.join(work, "prepare.json")))
    shape = prepared.get("shape", "gpt2-small")
    model_dir, data_dir = os.path.join(work, "model"), os.path.join(work, "data")
    ids_all = json.load(open(os.path.join(data_dir, "ids.json")))
    prefix = ids_all.get("prefix") or []
    config = json.load(open(os.path.join(model_dir, "config.json")))
    vocab = config["vocab_size"]
    hidden = config.get("hidden_size") or config.get("n_embd")
    settings = dict(DEFAULTS["small" if args.small else "gpu"])
    for key in settings:
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    deadline = time.time() + args.budget_s
    folder = os.path.join(work, "interop")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    cli = Cli(os.path.abspath(args.cli), os.path.join(folder, "cli.log"))
    db = os.path.join(folder, "runs.sqlite")
    checks = Checks()
    result = {"shape": shape, "model": model_dir, "parameters": prepared["model"]["parameters"],
              "created_by": prepared["model"]["created_by"], "prefix_ids": prefix, "settings": settings,
              "device_ours": args.device, "tolerance": TOLERANCE,
              "layout": {"ours": "[prefix] σ z",
                         "peft": "σ [prefix] z",
                         "compared_in": ("peft's usual call (the layouts are the same without a prefix)" if not prefix
                                         else "[prefix] σ z: a (k + %d)-token adapter [emb(prefix); σ], written "
                                              "next to the exported one and loaded with PeftModel.from_pretrained, "
                                              "input without the prefix" % len(prefix))},
              "checks": checks.items}

    def save():
        result["verdict"] = verdict(checks.items)
        result["cli_calls"] = cli.calls
        merged = {}
        if os.path.exists(args.out):
            try:
                merged = json.load(open(args.out))
            except ValueError:
                merged = {}
        merged.setdefault("shapes", {})[shape] = result
        merged["tolerance"] = TOLERANCE
        merged["tool"] = "scripts/gpu/peft_interop.py"
        every = [c for s in merged["shapes"].values() for c in s.get("checks", [])]
        merged["verdict"] = verdict(every, len(merged["shapes"]))
        merged["shapes_checked"] = sorted(merged["shapes"])
        write_json(args.out, merged)

    def time_left(need):
        return deadline - time.time() > need

    # Interop data: subsets of the prepared queries (short CLI runs).
    train_file, heldout_file = os.path.join(folder, "queries.jsonl"), os.path.join(folder, "heldout.jsonl")
    write_subset(os.path.join(data_dir, "queries.jsonl"), train_file, settings["train_queries"])
    heldout_texts = write_subset(os.path.join(data_dir, "heldout.jsonl"), heldout_file, settings["heldout_queries"])
    heldout_ids = {text: ids for text, ids in zip(heldout_texts, ids_all["heldout"])}
    context_file = os.path.join(data_dir, "context.txt")
    k = settings["k"]

    try:
        backend, skip_reason = make_backend(model_dir, args.device, prepared["model"]["parameters"])
    except Exception as error:  # noqa: BLE001 - peft is installed but its side could not start: a failure
        import traceback
        checks.add("peft: load the base model with transformers for the peft side", "peft", "error",
                   error="%s: %s" % (type(error).__name__, error), traceback=traceback.format_exc()[-3000:])
        backend, skip_reason = None, "the peft side could not start (see the error above)"
    result["backend"] = {"name": backend.label if backend else None, "facts": backend.facts if backend else None,
                         "peft_skipped_because": skip_reason,
                         "reference_stand_in": (None if not skip_reason else
                                                "runs the peft checks' comparisons on a numpy forward" if backend
                                                else "not run (needs numpy and a model under %d parameters)"
                                                % REFERENCE_MAX_PARAMETERS)}

    def peft_skipped(name):
        """Each peft check that cannot run here: recorded as skipped (and, when the stand-in runs it, once
        more under 'reference')."""
        if skip_reason:
            checks.add(name, "peft", "skipped", reason=skip_reason)

    # ---- A. ours → peft ------------------------------------------------------------------------------------
    a = result["ours_to_peft"] = {}
    try:
        start = time.time()
        trained = cli("train", "--model", model_dir, "--context", context_file, "--queries", train_file,
                      "--heldout", heldout_file, "--k", k, "--steps", settings["ours_steps"], "--batch",
                      settings["batch"], "--lr", settings["lr"], "--eval-every", settings["ours_steps"],
                      "--checkpoint-every", 0, "--teacher-top-k", vocab, "--format", "plain", "--device", args.device,
                      "--dtype", "float32", "--db", db, "--name", "interop ours→peft", "--json",
                      timeout=max(30, int(deadline - time.time())), parse_json=True)
        run_id = trained["run_id"]
        a["train"] = {"run_id": run_id, "seconds": round(time.time() - start, 2),
                      "heldout_s": trained.get("heldout_s"), "final_s": trained.get("final_s")}
        checks.passed_if("ours: softprompt train --db stores the run", "cli", bool(run_id), run_id=run_id)
        adapter, sigma_file = os.path.join(folder, "ours-adapter"), os.path.join(folder, "ours-sigma.safetensors")
        cli("runs", "export", run_id, "--db", db, "--peft", adapter)
        cli("runs", "export", run_id, "--db", db, "--sigma", sigma_file)
        # The adapter folder as peft reads it (no peft needed for this one).
        adapter_config, dtype, tensor_shape, raw = hf_reference.read_peft_adapter(adapter)
        header, _ = hf_reference.read_safetensors_header(os.path.join(adapter, "adapter_model.safetensors"))
        _, _, sigma_raw = hf_reference.read_tensor_bytes(sigma_file, "prompt_embeddings")
        facts = {"files": sorted(os.listdir(adapter)), "tensors": sorted(n for n in header if n != "__metadata__"),
                 "dtype": dtype, "shape": tensor_shape, "config": adapter_config}
        ok = (adapter_config.get("peft_type") == "PROMPT_TUNING" and adapter_config.get("task_type") == "CAUSAL_LM"
              and adapter_config.get("num_virtual_tokens") == k and adapter_config.get("token_dim") == hidden
              and adapter_config.get("num_transformer_submodules") == 1
              and os.path.abspath(adapter_config.get("base_model_name_or_path") or "") == model_dir
              and facts["tensors"] == ["prompt_embeddings"] and dtype == "F32" and tensor_shape == [k, hidden]
              and raw == sigma_raw)
        checks.passed_if("export: adapter_config.json + adapter_model.safetensors (prompt_embeddings F32 [k, d], "
                         "the run's σ bit for bit)", "cli", ok, **facts)
        a["adapter"] = adapter
        save()

        # Ours: eval (every held-out query's top-10 and KL), generate (top-100 at G greedy positions).
        evaluated = cli("eval", "--run", run_id, "--db", db, "--queries", "--json", "--device", args.device,
                        timeout=max(30, int(deadline - time.time())), parse_json=True)
        ours_eval = [q for q in evaluated.get("queries", []) if q.get("held_out") and q["query"] in heldout_ids]
        a["eval"] = {"heldout_queries": len(ours_eval), "heldout_s": evaluated.get("heldout_s"),
                     "heldout_top1_agreement": evaluated.get("heldout_top1_agreement")}
        generated = []
        for text in heldout_texts[:settings["queries"]]:
            if not time_left(20):
                a["generate_stopped"] = "budget: %d of %d queries" % (len(generated), settings["queries"])
                break
            out = cli("generate", "--run", run_id, "--db", db, "--prompt", text, "--condition", "all",
                      "--max-new", settings["max_new"], "--top-k", 100, "--json", "--device", args.device,
                      "--dtype", "float32", timeout=max(30, int(deadline - time.time())), parse_json=True)
            generated.append((text, out))
        lengths = [prompt_lengths_check(out, prefix, len(ids_all["context"]), k, len(heldout_ids[text]))
                   for text, out in generated]
        checks.judged_on(lengths, "ours: generate's prompt lengths follow the layout [prefix] c z / [prefix] σ z / "
                         "[prefix] z", "cli", all(ok for ok, _ in lengths),
                         details=[d for _, d in lengths][:3])
        save()

        # peft: load what we exported, compare.
        names = {"load": PEFT_CHECKS["a_load"], "generate": PEFT_CHECKS["a_generate"], "eval": PEFT_CHECKS["a_eval"]}
        for key in ("load", "generate", "eval"):
            peft_skipped(names[key])
        if backend is not None:
            try:
                group = backend.group
                tag = "" if group == "peft" else "[stand-in: %s] " % backend.label
                try:
                    handle = backend.load(adapter)
                    load_facts = {}
                except Exception as error:  # noqa: BLE001 - a finding: our export does not load as it is
                    checks.add(tag + names["load"], group, "failed", error="%s: %s" % (type(error).__name__, error))
                    handle = backend.load(adapter, backend.random_init_config(adapter))
                    load_facts = {"loaded_with": "prompt_tuning_init RANDOM override after the failure above"}
                loaded = backend.loaded_values(handle)
                same = loaded.astype("<f4").tobytes() == sigma_raw
                if not load_facts:
                    checks.passed_if(tag + names["load"], group, same, shape=list(loaded.shape))
                layout_handle = handle
                native_handle = None
                if prefix:
                    layout_handle = backend.load(bos_slot_adapter(backend, adapter, adapter + "-bos-slot", prefix))
                    native_handle = handle
                per_query = []
                for text, out in generated:
                    per_query.append(compare_generate(backend, out, {"query": heldout_ids[text], "context": ids_all["context"]},
                                                      prefix, layout_handle, native_handle))
                conditions = {c: [q[c] for q in per_query if c in q] for c in ("sigma", "full", "none")}
                ok = bool(per_query) and all(rows and all(s["all_within"] for s in rows) for rows in conditions.values())
                worst = {c: max((s["max_abs_dlogp"] for s in rows if s["max_abs_dlogp"] is not None), default=None)
                         for c, rows in conditions.items()}
                checks.judged_on(per_query, tag + names["generate"], group, ok, queries=len(per_query),
                                 max_abs_dlogp=worst, per_query=per_query)
                if prefix:
                    control = [q["sigma_in_peft_native_layout"] for q in per_query if "sigma_in_peft_native_layout" in q]
                    checks.add(tag + "control: the exported adapter in peft's own layout (σ [prefix] z) against ours "
                               "([prefix] σ z)", group, "info", max_abs_dlogp=max((c["max_abs_dlogp"] for c in control), default=None),
                               top1_mismatches=sum(c["top1_mismatches"] for c in control),
                               note="expected to differ: the BOS slot; shows what the tolerance would catch")
                rows = []
                for query in ours_eval:
                    if not time_left(10):
                        break
                    z = heldout_ids[query["query"]]
                    sigma_row = backend.sigma_logp(layout_handle, z, 1)[0]
                    teacher_row = backend.base_logp(prefix + ids_all["context"] + z, 1)[0]
                    outcome = query["outcomes"]["sigma"]
                    position = compare_position(outcome["top_k"], sigma_row)
                    reference_kl = kl(teacher_row, sigma_row)
                    kl_ok = abs(outcome["kl"] - reference_kl) <= TOLERANCE["kl_abs"] + TOLERANCE["kl_rel"] * reference_kl
                    agrees = int(teacher_row.argmax()) == int(sigma_row.argmax())
                    rows.append({"query": query["query"], "kl_ours": outcome["kl"], "kl_reference": reference_kl,
                                 "max_abs_dlogp": position["max_abs_dlogp"], "top1_agrees_ours": outcome["top1_agrees"],
                                 "top1_agrees_reference": agrees, "ok": position["ok"] and kl_ok})
                checks.judged_on(rows, tag + names["eval"], group, all(r["ok"] for r in rows),
                                 queries=len(rows), max_abs_dkl=max((abs(r["kl_ours"] - r["kl_reference"]) for r in rows),
                                                                    default=None),
                                 max_abs_dlogp=max((r["max_abs_dlogp"] for r in rows), default=None),
                                 top1_agreement_differs=sum(1 for r in rows
                                                            if r["top1_agrees_ours"] != r["top1_agrees_reference"]),
                                 per_query=rows[:16])

            except Exception as error:  # noqa: BLE001 - recorded in the backend's group
                import traceback
                checks.add("ours → peft: %s side" % backend.label, backend.group, "error",
                           error="%s: %s" % (type(error).__name__, error),
                           traceback=traceback.format_exc()[-3000:])
        save()
    except Exception as error:  # noqa: BLE001 - recorded; direction B still runs
        import traceback
        checks.add("ours → peft", "cli", "error", error="%s: %s" % (type(error).__name__, error),
                   traceback=traceback.format_exc()[-3000:])
        save()

    # ---- B. peft → ours ------------------------------------------------------------------------------------
    b = result["peft_to_ours"] = {}
    try:
        adapter = os.path.join(folder, "peft-adapter")
        init_ids = [ids_all["context"][i % len(ids_all["context"])] for i in range(k)]
        train_ids = ids_all["train"][:settings["train_queries"]]
        name_train = PEFT_CHECKS["b_train"]
        if isinstance(backend, PeftBackend):
            b["trained"] = backend.train(adapter, k, init_ids, [prefix + z for z in train_ids],
                                         [prefix + ids_all["context"] + z for z in train_ids], settings["peft_steps"],
                                         settings["lr"], min(settings["batch"], len(train_ids)), 0)
            checks.passed_if(name_train, "peft", os.path.exists(os.path.join(adapter, "adapter_model.safetensors")),
                             **b["trained"])
        else:
            checks.add(name_train, "peft", "skipped", reason=skip_reason)
            # The stand-in: the embeddings of the context's last k tokens, perturbed, in a folder written by hand
            # as peft writes it.
            rows = hf_reference.read_rows(os.path.join(model_dir, "model.safetensors"),
                                          "transformer.wte.weight" if config.get("model_type") == "gpt2"
                                          else "model.embed_tokens.weight", ids_all["context"][-k:])
            rng = random.Random(7)
            scale = prepared.get("init_range", 0.1) * 0.3
            rows = [[value + rng.gauss(0.0, scale) for value in row] for row in rows]
            hf_reference.write_peft_adapter(adapter, rows, hf_reference.peft_prompt_tuning_config(
                k, hidden, model_dir, config.get("num_attention_heads") or config.get("n_head"),
                config.get("num_hidden_layers") or config.get("n_layer")))
            b["trained"] = {"trained_by": "hand-written stand-in (%s): adapter_config.json and "
                                          "adapter_model.safetensors as peft writes them" % skip_reason}
        save()
        imported = cli("runs", "import-peft", adapter, "--db", db, "--json", parse_json=True)
        new_id = imported.get("run_id") or imported.get("id")
        b["imported"] = {"run_id": new_id, "cli_output": {key: imported.get(key) for key in ("id", "name", "status",
                                                                                           "tags", "config")}}
        peft_config, dtype, tensor_shape, raw = hf_reference.read_peft_adapter(adapter)
        back = os.path.join(folder, "imported-sigma.safetensors")
        cli("runs", "export", new_id, "--db", db, "--sigma", back)
        _, back_dtype, back_raw = hf_reference.read_tensor_bytes(back, "prompt_embeddings")
        if dtype == "F32":
            same = back_raw == raw
        else:
            same = hf_reference.floats_from_bytes(back_dtype, back_raw) == hf_reference.floats_from_bytes(dtype, raw)
        checks.passed_if("import-peft: the run holds the adapter's prompt_embeddings bit for bit", "cli", same,
                         run_id=new_id, adapter_dtype=dtype, shape=tensor_shape)
        again = os.path.join(folder, "reexported-adapter")
        cli("runs", "export", new_id, "--db", db, "--peft", again)
        again_config, _, _, again_raw = hf_reference.read_peft_adapter(again)
        lost = {key: (value, again_config.get(key)) for key, value in peft_config.items()
                if again_config.get(key) != value and key not in ("inference_mode",)}
        checks.passed_if("runs export --peft of the imported run gives the adapter back (config fields and "
                         "weights)", "cli", not lost and (again_raw == raw or dtype != "F32"), changed=lost)
        # Our evaluation of the imported adapter: σ against the full context, query by query.
        generated = []
        for text in heldout_texts[:settings["queries"]]:
            if not time_left(15):
                b["generate_stopped"] = "budget: %d of %d queries" % (len(generated), settings["queries"])
                break
            out = cli("generate", "--run", new_id, "--db", db, "--model", model_dir, "--context", context_file,
                      "--format", "plain", "--prompt", text, "--condition", "all", "--max-new", settings["max_new"],
                      "--top-k", 100, "--json", "--device", args.device, "--dtype", "float32",
                      timeout=max(30, int(deadline - time.time())), parse_json=True)
            generated.append((text, out))

        def top1(out, condition):
            tokens = out["conditions"][condition]["tokens"]
            return tokens[0]["id"] if tokens else None

        ours_agreement = [top1(out, "sigma") == top1(out, "full") for _, out in generated]
        b["ours_evaluation"] = {"queries": len(generated),
                                "top1_agreement_with_full_context": (sum(ours_agreement) / len(ours_agreement)
                                                                     if ours_agreement else None),
                                "per_query": [{"query": text, "sigma": out["conditions"]["sigma"]["text"],
                                               "full": out["conditions"]["full"]["text"]} for text, out in generated]}
        save()
        names = {"load": PEFT_CHECKS["b_load"], "generate": PEFT_CHECKS["b_generate"],
                 "evaluation": PEFT_CHECKS["b_evaluation"]}
        for key in ("load", "generate", "evaluation"):
            peft_skipped(names[key])
        if backend is not None:
            try:
                group = backend.group
                tag = "" if group == "peft" else "[stand-in: %s] " % backend.label
                handle = backend.load(adapter)
                checks.passed_if(tag + names["load"], group, backend.loaded_values(handle).astype("<f4").tobytes() ==
                                 (raw if dtype == "F32" else numpy.array(hf_reference.floats_from_bytes(dtype, raw),
                                                                         dtype="<f4").tobytes()))
                layout_handle = backend.load(bos_slot_adapter(backend, adapter, adapter + "-bos-slot", prefix)) \
                    if prefix else handle
                per_query = [compare_generate(backend, out, {"query": heldout_ids[text], "context": ids_all["context"]},
                                              prefix, layout_handle, handle if prefix else None)
                             for text, out in generated]
                conditions = {c: [q[c] for q in per_query if c in q] for c in ("sigma", "full", "none")}
                ok = bool(per_query) and all(rows and all(s["all_within"] for s in rows) for rows in conditions.values())
                checks.judged_on(per_query, tag + names["generate"], group, ok, queries=len(per_query),
                                 per_query=per_query)
                # peft's own evaluation of its adapter: in our layout (what we evaluate) and in its own.
                own = []
                for text in heldout_texts:
                    if not time_left(8):
                        break
                    z = heldout_ids[text]
                    teacher_row = backend.base_logp(prefix + ids_all["context"] + z, 1)[0]
                    ours_layout = backend.sigma_logp(layout_handle, z, 1)[0]
                    native = backend.sigma_logp(handle, prefix + z, 1)[0]
                    own.append({"query": text, "kl_our_layout": kl(teacher_row, ours_layout),
                                "kl_peft_layout": kl(teacher_row, native),
                                "top1_agrees_our_layout": int(teacher_row.argmax()) == int(ours_layout.argmax()),
                                "top1_agrees_peft_layout": int(teacher_row.argmax()) == int(native.argmax())})
                b["peft_evaluation"] = {
                    "by": backend.label, "heldout_queries": len(own),
                    "heldout_kl_our_layout": sum(r["kl_our_layout"] for r in own) / len(own) if own else None,
                    "heldout_kl_peft_layout": sum(r["kl_peft_layout"] for r in own) / len(own) if own else None,
                    "top1_agreement_our_layout": sum(r["top1_agrees_our_layout"] for r in own) / len(own) if own else None,
                    "top1_agreement_peft_layout": (sum(r["top1_agrees_peft_layout"] for r in own) / len(own)
                                                   if own else None),
                    "note": "the adapter was trained in peft's layout σ [prefix] z; we evaluate [prefix] σ z (the same "
                            "when there is no prefix)"}
                theirs = [r["top1_agrees_our_layout"] for r in own[:len(generated)]]  # the same queries, in order
                checks.judged_on(theirs, tag + names["evaluation"], group, theirs == ours_agreement[:len(theirs)],
                                 ours=ours_agreement, theirs=theirs)

            except Exception as error:  # noqa: BLE001 - recorded in the backend's group
                import traceback
                checks.add("peft → ours: %s side" % backend.label, backend.group, "error",
                           error="%s: %s" % (type(error).__name__, error),
                           traceback=traceback.format_exc()[-3000:])
        save()
    except Exception as error:  # noqa: BLE001
        import traceback
        checks.add("peft → ours", "cli", "error", error="%s: %s" % (type(error).__name__, error),
                   traceback=traceback.format_exc()[-3000:])
    result["seconds"] = round(args.budget_s - (deadline - time.time()), 1)
    save()
    v = result["verdict"]
    log("%s: %s; our side %s" % (shape, v["status"], {True: "passes", False: "FAILS", None: "not fully checked"}[
        v["our_side_passes"]]))
    return 1 if v["our_side_passes"] is False or v["peft_round_trip_passes"] is False else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="a folder peft_compare.py prepare made")
    parser.add_argument("--cli", required=True)
    parser.add_argument("--out", required=True, help="JSON; this shape's results go under shapes.<shape>")
    parser.add_argument("--device", default="cpu", help="our CLI's device (cpu, cuda); peft uses CUDA when it can")
    parser.add_argument("--budget-s", type=float, default=120)
    parser.add_argument("--small", action="store_true", help="dry-run sizes")
    for key in DEFAULTS["gpu"]:
        parser.add_argument("--" + key.replace("_", "-"), type=type(DEFAULTS["gpu"][key]), default=None)
    args = parser.parse_args()
    args.out = os.path.abspath(args.out)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
