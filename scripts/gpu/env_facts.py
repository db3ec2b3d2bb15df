#!/usr/bin/env python3
"""Facts about the GPU machine for scripts/gpu-check.sh: writes env.json and a shell file of
variables the check script sources. Standard library only; torch is imported in a child process so
that a broken torch cannot stop the facts from being written.

    env_facts.py --json OUT/env.json --shell /tmp/env.sh [--sysroot-manifest manifest.json]
"""
import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys

# Dense bf16 tensor-core peak (TFLOP/s) by marketing name, from NVIDIA's data sheets (without
# sparsity). The brief for this check: H100 SXM 989, H200 989.
PEAK_BF16_TFLOPS = [
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
]


def run(command, timeout=30):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout.strip(), done.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, "", str(error)


def first_line(text):
    return text.splitlines()[0] if text else ""


def tool(name):
    path = shutil.which(name)
    if not path:
        return None
    code, out, err = run([path, "--version"])
    return {"path": path, "version": first_line(out or err)}


def version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text or "")[:3])


def libstdcxx_newest():
    """Newest GLIBCXX_3.4.N the machine's libstdc++.so.6 provides."""
    candidates = []
    code, out, _ = run(["ldconfig", "-p"])
    for line in out.splitlines():
        if "libstdc++.so.6" in line and "x86-64" in line:
            candidates.append(line.split("=>")[-1].strip())
    candidates += ["/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6"]
    for path in candidates:
        try:
            data = open(path, "rb").read()
        except OSError:
            continue
        found = set(re.findall(rb"GLIBCXX_(3\.4(?:\.\d+)?)\x00", data))
        if found:
            return max((f.decode() for f in found), key=version_tuple), path
    return None, None


TORCH_PROBE = r"""
import json, sys
facts = {}
try:
    import torch
    facts["version"] = torch.__version__
    facts["cuda_version"] = torch.version.cuda
    facts["cxx11_abi"] = int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))
    facts["cmake_prefix_path"] = torch.utils.cmake_prefix_path
    import os
    facts["package_dir"] = os.path.dirname(torch.__file__)
    facts["cuda_available"] = bool(torch.cuda.is_available())
    if facts["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        facts["device_name"] = torch.cuda.get_device_name(0)
        facts["capability"] = "%d.%d" % torch.cuda.get_device_capability(0)
        facts["multiprocessors"] = props.multi_processor_count
        facts["memory_gib"] = round(props.total_memory / 2**30, 1)
        facts["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
        facts["tf32_matmul_allowed"] = bool(torch.backends.cuda.matmul.allow_tf32)
except Exception as error:
    facts["error"] = "%s: %s" % (type(error).__name__, error)
for name in ("transformers", "peft", "tokenizers", "safetensors", "accelerate"):
    try:
        from importlib.metadata import version
        facts[name] = version(name)
    except Exception:
        facts[name] = None
print(json.dumps(facts))
"""


def torch_facts(python):
    code, out, err = run([python, "-c", TORCH_PROBE], timeout=120)
    try:
        return json.loads(out.splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "probe failed (exit %s): %s" % (code, err[-2000:])}


def nvidia_smi():
    smi = shutil.which("nvidia-smi")
    if not smi:
        return {"available": False}
    fields = "name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,compute_cap"
    code, out, err = run([smi, "--query-gpu=" + fields, "--format=csv,noheader"])
    facts = {"available": code == 0, "query": out or err}
    if code == 0 and out:
        names = fields.split(",")
        gpus = [dict(zip(names, [v.strip() for v in line.split(",")])) for line in out.splitlines()]
        facts["gpus"] = gpus
    code, out, _ = run([smi])
    facts["summary"] = out[:3000]
    return facts


def peak_tflops(name):
    for key, value in PEAK_BF16_TFLOPS:
        if key.lower() in (name or "").lower():
            return value
    return None


def cuda_toolkit():
    nvcc = shutil.which("nvcc")
    for candidate in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if not nvcc and candidate and os.path.exists(os.path.join(candidate, "bin", "nvcc")):
            nvcc = os.path.join(candidate, "bin", "nvcc")
    if not nvcc:
        return {"nvcc": None}
    code, out, _ = run([nvcc, "--version"])
    home = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    include = os.path.join(home, "include")
    nvtx = None
    for folder in (include, os.path.join(home, "targets", "x86_64-linux", "include")):
        if os.path.isdir(os.path.join(folder, "nvtx3")):
            nvtx = folder
            break
    return {"nvcc": nvcc, "home": home, "version": out.splitlines()[-1] if out else None, "nvtx3_dir": nvtx}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    parser.add_argument("--shell", required=True)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--sysroot-manifest")
    args = parser.parse_args()

    facts = {"host": platform.node(), "kernel": platform.release(), "machine": platform.machine(),
             "cpus": os.cpu_count()}
    try:
        facts["os_release"] = dict(
            line.split("=", 1) for line in open("/etc/os-release").read().splitlines() if "=" in line)
        facts["os"] = facts["os_release"].get("PRETTY_NAME", "").strip('"')
    except OSError:
        facts["os"] = None
    try:
        facts["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    try:
        facts["glibc"] = os.confstr("CS_GNU_LIBC_VERSION").split()[-1]
    except (ValueError, OSError, AttributeError):
        facts["glibc"] = platform.libc_ver()[1] or None
    facts["libstdcxx_newest"], facts["libstdcxx_path"] = libstdcxx_newest()
    facts["python"] = {"path": args.python, "version": platform.python_version()}
    compilers = {}
    for name in ("c++", "g++", "clang++", "cc", "gcc"):
        compilers[name] = tool(name)
    facts["compilers"] = compilers
    facts["tools"] = {name: tool(name) for name in ("cmake", "ninja", "pkg-config", "pkgconf", "ctest", "xz",
                                                   "tar", "readelf", "ldconfig")}
    facts["cuda_toolkit"] = cuda_toolkit()
    facts["nvidia_smi"] = nvidia_smi()
    facts["torch"] = torch_facts(args.python)
    gpu_name = facts["torch"].get("device_name") or (
        (facts["nvidia_smi"].get("gpus") or [{}])[0].get("name"))
    facts["gpu_name"] = gpu_name
    facts["peak_bf16_tflops"] = peak_tflops(gpu_name)

    # Can the carried Debian binaries run here? Each needs a glibc and a libstdc++ at least as new
    # as the newest symbol version it references.
    usable = None
    if args.sysroot_manifest and os.path.exists(args.sysroot_manifest):
        manifest = json.load(open(args.sysroot_manifest))
        newest = manifest.get("newest_symbol_versions", {})
        glibc_ok = version_tuple(facts["glibc"]) >= version_tuple(newest.get("GLIBC", "0"))
        cxx_ok = (facts["libstdcxx_newest"] is not None and
                  version_tuple(facts["libstdcxx_newest"]) >= version_tuple(newest.get("GLIBCXX", "0")))
        usable = glibc_ok and cxx_ok
        facts["sysroot"] = {"needs": newest, "glibc_ok": glibc_ok, "libstdcxx_ok": cxx_ok,
                            "carried_binaries_usable": usable}
    json.dump(facts, open(args.json, "w"), indent=1, sort_keys=True)

    torch_info = facts["torch"]
    toolkit = facts["cuda_toolkit"]
    variables = {
        "TORCH_VERSION": torch_info.get("version", ""),
        "TORCH_CMAKE_PREFIX": torch_info.get("cmake_prefix_path", ""),
        "TORCH_PACKAGE_DIR": torch_info.get("package_dir", ""),
        "TORCH_CXX11_ABI": str(torch_info.get("cxx11_abi", "")),
        "TORCH_CUDA_AVAILABLE": "1" if torch_info.get("cuda_available") else "0",
        "TORCH_ERROR": torch_info.get("error", ""),
        "GPU_NAME": gpu_name or "",
        "PEAK_BF16_TFLOPS": str(facts["peak_bf16_tflops"] or ""),
        "NVCC": toolkit.get("nvcc") or "",
        "CUDA_TOOLKIT_HOME": toolkit.get("home") or "",
        "NVTX3_DIR": toolkit.get("nvtx3_dir") or "",
        "SYSROOT_USABLE": "" if usable is None else ("1" if usable else "0"),
        "HAVE_TRANSFORMERS": "1" if torch_info.get("transformers") and torch_info.get("peft") else "0",
    }
    with open(args.shell, "w") as shell:
        for key, value in variables.items():
            shell.write("%s=%s\n" % (key, shlex.quote(value)))
    print("env: %s | torch %s (CUDA %s, ABI %s, cuda available %s) | %s | glibc %s | GLIBCXX %s" % (
        facts.get("os"), torch_info.get("version"), torch_info.get("cuda_version"), torch_info.get("cxx11_abi"),
        torch_info.get("cuda_available"), gpu_name, facts["glibc"], facts["libstdcxx_newest"]))


if __name__ == "__main__":
    main()
