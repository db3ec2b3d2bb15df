#!/usr/bin/env python3
"""Unpacks the carried Debian sysroot (scripts/gpu-prepare-sysroot.sh) on the GPU machine and makes
it usable there; writes a shell file of variables for scripts/gpu-check.sh.

- pkg-config files get the sysroot's real prefix (so no PKG_CONFIG_SYSROOT_DIR is needed and no
  include folder is mistaken for a system one);
- runtime libraries that only Qt needs underneath (zlib, zstd, glib, ICU, ...) are replaced by links
  to the machine's own copies where it has them: those are newer, and loading two copies of one
  soname into a process (ours for Qt, the system's for CUDA or Python) must not happen;
- libraries we compile against (Qt Core/Test, PCRE2, utf8proc, SQLite) stay the carried ones, which
  match the carried headers, unless the machine's glibc/libstdc++ is too old to load them (then the
  machine's copy is used where it exists, and Qt, whose moc must run too, is reported unusable);
- pkg-config: the machine's, else the carried pkgconf behind a wrapper.

    setup_sysroot.py --archive .device/carry/sysroot.tar.xz --dest WORK/sysroot --shell WORK/sysroot.sh
                     --manifest .device/carry/manifest.json --usable 1|0 [--keep-carried]
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile

# Runtime-only dependencies of QtCore and moc: prefer the machine's copy.
LEAF_SONAMES = re.compile(r"^lib(z|zstd|glib-2\.0|icu\w+|double-conversion|b2|pcre2-16|pkgconf)\.so\.")
LIB_DIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu")


def system_libraries():
    """soname -> path of the machine's x86-64 libraries (ldconfig's cache)."""
    found = {}
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if match and "x86-64" in match.group(2) and os.path.exists(match.group(3)):
            found.setdefault(match.group(1), match.group(3))
    return found


def extract(archive, dest):
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    if shutil.which("xz") and shutil.which("tar"):
        subprocess.run(["tar", "-xJf", archive, "-C", dest], check=True)
    else:
        with tarfile.open(archive, "r:xz") as tar:
            tar.extractall(dest)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--shell", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--usable", default="1", help="1 when glibc/libstdc++ can load the carried binaries")
    parser.add_argument("--keep-carried", action="store_true", help="never swap in the machine's libraries")
    args = parser.parse_args()

    dest = os.path.abspath(args.dest)
    extract(args.archive, dest)
    manifest = json.load(open(args.manifest))
    usable = args.usable == "1"

    # pkg-config files: the real prefix.
    for folder in ("usr/lib/x86_64-linux-gnu/pkgconfig", "usr/share/pkgconfig"):
        path = os.path.join(dest, folder)
        if not os.path.isdir(path):
            continue
        for name in os.listdir(path):
            pc = os.path.join(path, name)
            text = open(pc).read()
            text = re.sub(r"^prefix=/usr\s*$", "prefix=%s/usr" % dest, text, flags=re.M)
            text = re.sub(r"=/usr/", "=%s/usr/" % dest, text)  # absolute libdir/includedir lines
            open(pc, "w").write(text)

    system = system_libraries()
    swapped, kept, missing = [], [], []
    for relative, info in sorted(manifest.get("libraries", {}).items()):
        soname = info.get("soname")
        if not soname or not relative.startswith(LIB_DIRS):
            continue
        folder = os.path.join(dest, os.path.dirname(relative))
        carried = os.path.join(dest, relative)
        prefer_system = not args.keep_carried and (LEAF_SONAMES.match(soname) or not usable)
        if prefer_system and soname in system:
            link = os.path.join(folder, soname)
            if os.path.lexists(link):
                os.remove(link)
            if os.path.exists(carried) and os.path.basename(carried) != soname:
                os.remove(carried)
                # Development links (libfoo.so -> libfoo.so.1.2.3) now point at the soname link.
                for name in os.listdir(folder):
                    path = os.path.join(folder, name)
                    if os.path.islink(path) and not os.path.exists(path):
                        os.remove(path)
                        os.symlink(soname, path)
            os.symlink(system[soname], link)
            swapped.append(soname)
        elif usable:
            kept.append(soname)
        else:
            missing.append(soname)

    # The carried moc must run too, so the machine's own Qt libraries are no way out.
    qt_ok = usable
    lib = os.path.join(dest, "usr/lib/x86_64-linux-gnu")
    library_path = ":".join(os.path.join(dest, d) for d in LIB_DIRS)

    pkg_config = shutil.which("pkg-config") or shutil.which("pkgconf")
    if not pkg_config:
        carried = os.path.join(dest, "usr/bin/pkgconf")
        if os.path.exists(carried) and usable:
            bin_dir = os.path.join(os.path.dirname(dest), "bin")
            os.makedirs(bin_dir, exist_ok=True)
            pkg_config = os.path.join(bin_dir, "pkg-config")
            with open(pkg_config, "w") as wrapper:
                wrapper.write("#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s \"$@\"\n" %
                              (shlex.quote(library_path), shlex.quote(carried)))
            os.chmod(pkg_config, 0o755)

    variables = {
        "SYSROOT": dest,
        "SYSROOT_LIB": lib,
        "SYSROOT_LIBRARY_PATH": library_path,
        "SYSROOT_PKG_CONFIG_PATH": "%s/usr/lib/x86_64-linux-gnu/pkgconfig:%s/usr/share/pkgconfig" % (dest, dest),
        "SYSROOT_PKG_CONFIG": pkg_config or "",
        "SYSROOT_QT_OK": "1" if qt_ok else "0",
    }
    with open(args.shell, "w") as shell:
        for key, value in variables.items():
            shell.write("%s=%s\n" % (key, shlex.quote(value)))
    print("sysroot: %s; machine's copies used for %s; carried: %s%s; Qt %s; pkg-config %s" % (
        dest, ", ".join(swapped) or "none", ", ".join(kept) or "none",
        ("; missing: " + ", ".join(missing)) if missing else "", "usable" if qt_ok else "UNUSABLE",
        pkg_config or "MISSING"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
