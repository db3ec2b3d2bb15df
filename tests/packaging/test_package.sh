#!/usr/bin/env bash
# Builds the .deb with CPack, checks its contents and metadata, installs it into a temporary root
# with dpkg -x, and runs the installed CLI and GUI from there.
#   test_package.sh <build-dir> <source-dir>
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== building the package"
(cd "$build_dir" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/out/*.deb | head -n 1)
[[ -f "$deb" ]] || fail "no .deb produced"
echo "package: $(basename "$deb") ($(du -h "$deb" | cut -f1))"

echo "== contents (dpkg-deb -c)"
dpkg-deb -c "$deb" | awk '{print $6}' >"$work/contents"
for expected in \
    ./usr/bin/softprompt \
    ./usr/bin/softprompt-workbench \
    ./usr/share/applications/io.softprompt.Workbench.desktop \
    ./usr/share/metainfo/io.softprompt.Workbench.metainfo.xml \
    ./usr/share/icons/hicolor/scalable/apps/io.softprompt.Workbench.svg \
    ./usr/share/icons/hicolor/64x64/apps/io.softprompt.Workbench.png \
    ./usr/share/icons/hicolor/256x256/apps/io.softprompt.Workbench.png; do
    grep -qxF "$expected" "$work/contents" || fail "the package lacks $expected"
done
for data_folder in demo-model examples; do
    if [[ -d "$source_dir/resources/$data_folder" ]]; then
        grep -q "^./usr/share/softprompt-workbench/$data_folder/" "$work/contents" \
            || fail "the package lacks /usr/share/softprompt-workbench/$data_folder"
    fi
done
if [[ -f "$source_dir/resources/demo-model/config.json" ]]; then
    for file in config.json model.safetensors tokenizer.json; do
        grep -qxF "./usr/share/softprompt-workbench/demo-model/$file" "$work/contents" \
            || fail "the package lacks the demo model's $file"
    done
fi

echo "== metadata (dpkg-deb -I)"
dpkg-deb -I "$deb" >"$work/info"
grep -E '^ (Package|Version|Architecture|Depends):' "$work/info"
depends=$(awk -F': ' '/^ Depends:/ {print $2}' "$work/info")
for needed in libopenblas0-pthread libtorch qt6-qpa-plugins libqt6widgets6 libsqlite3; do
    [[ "$depends" == *"$needed"* ]] || fail "Depends lacks $needed: $depends"
done
grep -q '^ Package: softprompt-workbench$' "$work/info" || fail "wrong package name"

echo "== installing into a temporary root (dpkg -x)"
root="$work/root"
dpkg -x "$deb" "$root"
desktop-file-validate "$root/usr/share/applications/io.softprompt.Workbench.desktop"
appstreamcli validate --no-net "$root/usr/share/metainfo/io.softprompt.Workbench.metainfo.xml" >/dev/null

echo "== installed CLI"
# SOFTPROMPT_DATA_DIR must not leak in from the caller: the installed program finds its own data.
version=$(env -u SOFTPROMPT_DATA_DIR "$root/usr/bin/softprompt" --version)
echo "$version"
grep -q "^softprompt [0-9]" <<<"$version" || fail "--version does not print the version"
grep -q "^LibTorch [0-9]" <<<"$version" || fail "--version does not print the LibTorch version"
if [[ -d "$source_dir/resources/demo-model" || -d "$source_dir/resources/examples" ]]; then
    grep -qxF "Data: $root/usr/share/softprompt-workbench" <<<"$version" \
        || fail "the installed CLI does not use the installed data folder"
fi

echo "== installed GUI under Xvfb"
shot="$work/installed-gui.png"
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
timeout 120 xvfb-run -a -s "-screen 0 1600x1000x24" env -u SOFTPROMPT_DATA_DIR \
    "$root/usr/bin/softprompt-workbench" --screenshot "$shot" --quit-after 5000 \
    || fail "the installed GUI did not run"
[[ -s "$shot" ]] || fail "the installed GUI produced no screenshot"
if [[ -n "${SP_PACKAGE_SCREENSHOT:-}" ]]; then cp "$shot" "$SP_PACKAGE_SCREENSHOT"; fi
echo "PASS: package builds, installs and runs"
