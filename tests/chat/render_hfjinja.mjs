// Renders every chat template x message shape with npm @huggingface/jinja (transformers.js's engine)
// and writes the results as JSON for test_chat_conformance: the second, independent reference.
//
// Usage: node render_hfjinja.mjs TEMPLATES_JSON SHAPES_JSON NPM_CACHE OUTPUT_JSON
// The package is loaded from NPM_CACHE/chat-reference/node_modules (installed by fetch-references.sh).
// The context matches render_jinja2.py: messages, tools=null, documents=null, add_generation_prompt,
// the special tokens, the extra keyword arguments, and raise_exception / strftime_now with the
// shapes' fixed clock. Exit status 77 when the package is not installed.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [templatesJson, shapesJson, npmCache, outputJson] = process.argv.slice(2);
if (!outputJson) {
  console.error("usage: render_hfjinja.mjs TEMPLATES_JSON SHAPES_JSON NPM_CACHE OUTPUT_JSON");
  process.exit(2);
}
const referenceDir = path.join(npmCache, "chat-reference");
let jinja;
try {
  const require = createRequire(path.join(referenceDir, "package.json"));
  jinja = await import(require.resolve("@huggingface/jinja"));
} catch (error) {
  console.error(`render_hfjinja: @huggingface/jinja is not installed in ${referenceDir} (run tests/chat/fetch-references.sh); skipped`);
  process.exit(77);
}
const version = JSON.parse(fs.readFileSync(path.join(referenceDir, "node_modules/@huggingface/jinja/package.json"), "utf8")).version;

const tokenText = (v) => (v && typeof v === "object" ? v.content : v);
function loadTemplates() {
  const manifest = JSON.parse(fs.readFileSync(templatesJson, "utf8"));
  const base = path.dirname(path.resolve(templatesJson));
  return manifest.templates.flatMap((entry) => {
    const special = { ...(entry.special_tokens ?? {}) };
    let source;
    if (entry.file) {
      source = fs.readFileSync(path.join(base, entry.file), "utf8");
    } else {
      const configPath = path.join(npmCache, "packages", entry.npm, "package/models/tokenizer_config.json");
      if (!fs.existsSync(configPath)) {
        console.error(`render_hfjinja: ${configPath} is missing; template ${entry.name} skipped`);
        return [];
      }
      const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
      source = config.chat_template;
      for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
        const text = tokenText(config[key]);
        if (text !== undefined && text !== null) special[key] = text;
      }
    }
    return [{ name: entry.name, source, special }];
  });
}

// Python's datetime.strftime for the directives chat templates use, on a UTC clock.
function strftimeUtc(format, seconds) {
  const d = new Date(seconds * 1000);
  const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  const months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const table = {
    Y: () => String(d.getUTCFullYear()), y: () => pad(d.getUTCFullYear() % 100), m: () => pad(d.getUTCMonth() + 1),
    d: () => pad(d.getUTCDate()), H: () => pad(d.getUTCHours()), M: () => pad(d.getUTCMinutes()), S: () => pad(d.getUTCSeconds()),
    b: () => months[d.getUTCMonth()].slice(0, 3), B: () => months[d.getUTCMonth()], a: () => days[d.getUTCDay()].slice(0, 3),
    A: () => days[d.getUTCDay()], "%": () => "%",
  };
  return format.replace(/%([A-Za-z%])/g, (all, c) => (table[c] ? table[c]() : all));
}

// The package declares its own raise_exception and strftime_now (real clock) and refuses to declare
// a variable twice; ours (fixed clock, marked errors) replace them, as transformers' globals do.
const overridden = new Set(["raise_exception", "strftime_now"]);
const originalSet = jinja.Environment.prototype.set;
jinja.Environment.prototype.set = function (name, value) {
  if (overridden.has(name) && this.variables.has(name)) this.variables.delete(name);
  return originalSet.call(this, name, value);
};

class TemplateRaised extends Error {}
const shapes = JSON.parse(fs.readFileSync(shapesJson, "utf8"));
const results = {};
for (const template of loadTemplates()) {
  let compiled = null;
  let compileError = null;
  try {
    compiled = new jinja.Template(template.source);
  } catch (error) {
    compileError = String(error?.message ?? error);
  }
  for (const shape of shapes.shapes) {
    const key = `${template.name}/${shape.name}`;
    if (!compiled) {
      results[key] = { error: compileError, raised: false };
      continue;
    }
    const context = {
      messages: shape.messages, tools: null, documents: null, add_generation_prompt: shape.add_generation_prompt,
      ...template.special, ...(shape.extra ?? {}),
      raise_exception: (message) => { throw new TemplateRaised(String(message)); },
      strftime_now: (format) => strftimeUtc(format, shapes.now_unix_seconds),
    };
    try {
      results[key] = { output: compiled.render(context) };
    } catch (error) {
      // The engine wraps errors thrown by a called function; find ours in the cause chain.
      let e = error, raised = null;
      for (let depth = 0; e && depth < 10; ++depth, e = e.cause) if (e instanceof TemplateRaised) raised = e;
      results[key] = raised ? { error: raised.message, raised: true } : { error: String(error?.message ?? error), raised: false };
    }
  }
}
fs.writeFileSync(outputJson, JSON.stringify({ engine: `@huggingface/jinja ${version}`, results }, null, 1));
console.log(`render_hfjinja: ${Object.keys(results).length} renders with @huggingface/jinja ${version} -> ${outputJson}`);
