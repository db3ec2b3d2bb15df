#!/usr/bin/env python3
"""Merges what scripts/gpu-check.sh produced into OUT/summary.json and OUT/train_bench.json and
prints the key numbers (the run tool's reply keeps the output's tail). Standard library only."""
import argparse
import json
import os
import re
import xml.etree.ElementTree as ElementTree


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        return None if not os.path.exists(path) else {"unreadable": str(error)}


def junit(path):
    if not os.path.exists(path):
        return None
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        return {"unreadable": str(error)}
    cases = root.iter("testcase")
    result = {"passed": 0, "failed": 0, "skipped": 0, "failures": []}
    for case in cases:
        name = "%s.%s" % (case.get("classname", ""), case.get("name", ""))
        if case.find("failure") is not None or case.find("error") is not None:
            result["failed"] += 1
            node = case.find("failure") if case.find("failure") is not None else case.find("error")
            result["failures"].append({"test": name, "message": (node.get("message") or node.text or "")[:500]})
        elif case.find("skipped") is not None:
            result["skipped"] += 1
        else:
            result["passed"] += 1
    return result


def demo_pretrain(folder):
    """Each demo pretraining run: its command, last progress line, last exact-match check and, when
    it finished, the CLI's result JSON."""
    runs = {}
    if not os.path.isdir(folder):
        return runs
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".log"):
            continue
        lines = [line.strip() for line in open(os.path.join(folder, name), errors="replace") if line.strip()]
        progress = [line for line in lines if line.startswith("step ")]
        checks = [line for line in progress if "exact match" in line]
        run = {"last_progress": re.sub(r"  exact match.*", "", progress[-1]) if progress else None,
               "last_check": checks[-1][:300] if checks else None,
               "checks": [re.sub(r"^step (\d+)/\d+.*exact match (\d+)%.*", r"\1:\2%", line) for line in checks]}
        if lines and lines[-1].startswith("{"):
            try:
                run["result"] = json.loads(lines[-1])
            except ValueError:
                pass
        elif lines and not lines[-1].startswith("step "):
            run["error"] = lines[-1][:300]
        command = os.path.join(folder, name[:-4] + ".command")
        if os.path.exists(command):
            run["command"] = open(command).read().strip()
        runs[name[:-4]] = run
    return runs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--budget", type=int)
    parser.add_argument("--elapsed", type=int)
    args = parser.parse_args()
    out, work = args.out, args.work

    phases = []
    if os.path.exists(os.path.join(work, "phases.jsonl")):
        phases = [json.loads(line) for line in open(os.path.join(work, "phases.jsonl")) if line.strip()]
    env = load_json(os.path.join(out, "env.json")) or {}
    train_bench = {name: load_json(os.path.join(work, name + ".json"))
                   for name in ("bench_train", "bench_model", "train_demo")}
    train_bench = {k: v for k, v in train_bench.items() if v is not None}
    if train_bench:
        with open(os.path.join(out, "train_bench.json"), "w") as f:
            json.dump(train_bench, f, indent=1, sort_keys=True)

    cuda_log = os.path.join(work, "logs", "test_cuda.log")
    cuda_numbers = []
    if os.path.exists(cuda_log):
        cuda_numbers = [line.strip() for line in open(cuda_log, errors="replace")
                        if line.startswith(("QINFO", "FAIL", "SKIP"))][:80]
    # The PEFT comparison, one file per shape (peft_compare.json is gpt2-small, as in the first session),
    # and the interop round trip (both shapes in one file).
    comparisons = {}
    for name in sorted(os.listdir(out)) if os.path.isdir(out) else []:
        if name.startswith("peft_compare") and name.endswith(".json"):
            data = load_json(os.path.join(out, name)) or {}
            comparisons[data.get("shape") or ("gpt2-small" if name == "peft_compare.json" else name[13:-5])] = data
    interop = load_json(os.path.join(out, "peft_interop.json")) or {}
    demo = demo_pretrain(os.path.join(work, "demo"))
    torch_info = env.get("torch", {})
    summary = {
        "budget_seconds": args.budget, "elapsed_seconds": args.elapsed,
        "device": {"gpu": env.get("gpu_name"), "peak_bf16_tflops": env.get("peak_bf16_tflops"),
                   "driver": ((env.get("nvidia_smi") or {}).get("gpus") or [{}])[0].get("driver_version"),
                   "os": env.get("os"), "glibc": env.get("glibc"), "cpus": env.get("cpus")},
        "torch": {k: torch_info.get(k) for k in ("version", "cuda_version", "cxx11_abi", "cuda_available",
                                                 "transformers", "peft")},
        "build": load_json(os.path.join(work, "build.json")),
        "cli_version": open(os.path.join(work, "version.txt")).read().strip()
        if os.path.exists(os.path.join(work, "version.txt")) else None,
        "phases": phases,
        "test_cuda": {"junit": junit(os.path.join(out, "test_cuda.xml")), "numbers": cuda_numbers},
        "core_tests": junit(os.path.join(out, "ctest_junit.xml")),
        "demo_pretrain": demo,
        "train_bench": {name: {key: value.get(key) for key in (
            "steps_per_second", "tokens_per_second", "achieved_gflops", "gemm_gflops_1024",
            "fraction_of_gemm_1024", "model_gflop_per_step", "device", "prefill_tokens_per_s",
            "decode_tokens_per_s", "prefill_gflop_per_s", "prefill_fraction_of_gemm", "gemm_gflop_per_s", "status", "heldout_s", "initial_s", "final_s", "dtype", "note", "error")
            if isinstance(value, dict) and key in value} for name, value in train_bench.items()},
        "peft_compare": {shape: {
            "goals": peft.get("goals"), "comparison": peft.get("comparison"), "error": peft.get("error"),
            "runs": {name: {key: run.get(key) for key in (
                "steps_per_second", "step_seconds_median", "final_heldout_kl", "mfu",
                "achieved_tflops", "train_seconds", "error", "skipped", "logits", "stopped_early")
                if key in run} for name, run in (peft.get("runs") or {}).items()}}
            for shape, peft in comparisons.items()},
        "peft_interop": {"verdict": interop.get("verdict"), "shapes_checked": interop.get("shapes_checked"),
                         "checks": {shape: [{key: check.get(key) for key in (
                             "name", "group", "status", "reason", "error", "max_abs_dlogp", "max_abs_dkl")
                             if key in check} for check in result.get("checks", [])]
                             for shape, result in (interop.get("shapes") or {}).items()}},
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True, default=str)

    lines = ["==== gpu-check summary (%ss of %ss) ====" % (args.elapsed, args.budget),
             "device: %s | torch %s CUDA %s ABI %s | %s" % (
                 summary["device"]["gpu"], summary["torch"]["version"], summary["torch"]["cuda_version"],
                 summary["torch"]["cxx11_abi"], summary["build"])]
    lines.append("phases: " + ", ".join("%s=%s(%ss)" % (p["phase"], p["status"], p["seconds"]) for p in phases))
    if summary["test_cuda"]["junit"]:
        lines.append("test_cuda: %s" % json.dumps(summary["test_cuda"]["junit"])[:600])
    lines += ["  " + re.sub(r"^QINFO\s*:\s*", "", line)[:200] for line in cuda_numbers if "QINFO" in line][:24]
    if summary["core_tests"]:
        lines.append("core tests: %s" % json.dumps(summary["core_tests"])[:800])
    for name, value in summary["train_bench"].items():
        lines.append("%s: %s" % (name, json.dumps(value)[:400]))
    for shape, peft in summary["peft_compare"].items():
        for name, run in peft["runs"].items():
            lines.append("peft_compare %s %s: %s" % (shape, name, json.dumps(run)[:400]))
        if peft["comparison"]:
            lines.append("comparison %s: %s" % (shape, json.dumps(peft["comparison"])[:800]))
        for goal, entry in (peft["goals"] or {}).items():
            if isinstance(entry, dict):
                lines.append("goal %s %s: %s (value %s, threshold %s%s)" % (
                    shape, goal, entry.get("status"), entry.get("value"), entry.get("threshold"),
                    "" if entry.get("applies_to_this_shape", True) else ", not required for this shape"))
        if peft["error"]:
            lines.append("peft_compare %s error: %s" % (shape, peft["error"]))
    if summary["peft_interop"]["verdict"]:
        lines.append("peft_interop %s: %s" % (summary["peft_interop"]["shapes_checked"],
                                              json.dumps(summary["peft_interop"]["verdict"])[:600]))
        for shape, checks in summary["peft_interop"]["checks"].items():
            for check in checks:
                if check["status"] != "skipped":
                    lines.append("  interop %s %s %s: %s" % (shape, check["status"], check["group"],
                                                             check["name"][:110]))
    for name, run in demo.items():
        lines.append("demo_pretrain %s: %s" % (name, json.dumps(run)[:600]))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(work, "summary.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
