// Produces the differential test's reference: for each generated string, the ids that the
// JavaScript port of Hugging Face tokenizers (@huggingface/tokenizers) gives with and without
// special tokens, its decode of those ids, and whether decode(encode(s)) == s.
//
// Usage: node reference-ids.mjs CACHE_DIR
//   reads  CACHE_DIR/packages/<name>/package/models/tokenizer.json (fetch-references.sh)
//   writes CACHE_DIR/diff/<name>.jsonl, one JSON object per string, and CACHE_DIR/diff/meta.json
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { generateStrings, DEFAULT_SEED, DEFAULT_COUNT } from "./generate-strings.mjs";

const cache = process.argv[2];
if (!cache) {
  console.error("usage: node reference-ids.mjs CACHE_DIR");
  process.exit(2);
}
const require = createRequire(path.join(cache, "node-reference", "package.json"));
const { Tokenizer } = require("@huggingface/tokenizers");
const engineVersion = JSON.parse(
  fs.readFileSync(path.join(cache, "node-reference", "node_modules", "@huggingface", "tokenizers", "package.json"), "utf8"),
).version;

// The three tokenizers of the differential test (llama2 is Mistral's SentencePiece-style file).
const NAMES = ["gpt2", "qwen2_5", "llama2"];

function load(name) {
  const folder = path.join(cache, "packages", name, "package", "models");
  const json = JSON.parse(fs.readFileSync(path.join(folder, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(folder, "tokenizer_config.json"), "utf8"));
  // Compare with the Rust crate's decode, which does not apply transformers' space clean-up.
  config.clean_up_tokenization_spaces = false;
  return new Tokenizer(json, config);
}

function decode(tokenizer, ids) {
  return ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
}

const strings = generateStrings(DEFAULT_SEED, DEFAULT_COUNT);
const outDir = path.join(cache, "diff");
fs.mkdirSync(outDir, { recursive: true });
for (const name of NAMES) {
  const tokenizer = load(name);
  const lines = strings.map((text, index) => {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    const idsSpecial = tokenizer.encode(text, { add_special_tokens: true }).ids;
    const decoded = decode(tokenizer, ids);
    return JSON.stringify({ index, text, ids, ids_special: idsSpecial, decoded, roundtrip: decoded === text });
  });
  fs.writeFileSync(path.join(outDir, `${name}.jsonl`), lines.join("\n") + "\n");
}
fs.writeFileSync(
  path.join(outDir, "meta.json"),
  JSON.stringify({ engine: "@huggingface/tokenizers", version: engineVersion, seed: DEFAULT_SEED, count: strings.length, tokenizers: NAMES }) + "\n",
);
console.error(`reference-ids: ${strings.length} strings x ${NAMES.length} tokenizers written to ${outDir}`);
