#!/usr/bin/env python3
"""Renders one conversation with a model folder's chat template, in Jinja2 set up as transformers sets
it up (render_jinja2.make_environment), for test_chat_cli's check of `softprompt chat render`.

Usage: render_folder.py MODEL_FOLDER MESSAGES_JSON ADD_GENERATION_PROMPT(0|1)

Reads the folder's chat_template.jinja, else tokenizer_config.json's chat_template (a string, or the
list entry named "default", else the first), and its special tokens, with Python's json module: none
of the workbench's own reading is involved. Prints {"text": ...} or {"error": ..., "raised": bool} as
JSON on stdout. Exit status 77 when jinja2 is not installed.
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(__file__))
from render_jinja2 import TemplateRaised, make_environment  # noqa: E402  (exits 77 without jinja2)
from template_sources import token_text  # noqa: E402


def folder_template(folder):
    with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    jinja_file = os.path.join(folder, "chat_template.jinja")
    if os.path.exists(jinja_file):
        with open(jinja_file, encoding="utf-8") as f:
            source = f.read()
    else:
        source = config["chat_template"]
        if isinstance(source, list):
            named = {entry["name"]: entry["template"] for entry in source}
            source = named.get("default", source[0]["template"])
    special = {}
    for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
        text = token_text(config.get(key))
        if text is not None:
            special[key] = text
    return source, special


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    folder, messages_json, add_generation_prompt = sys.argv[1:]
    with open(messages_json, encoding="utf-8") as f:
        messages = json.load(f)
    source, special = folder_template(folder)
    variables = {"messages": messages, "tools": None, "documents": None,
                 "add_generation_prompt": add_generation_prompt == "1"}
    variables.update(special)
    try:
        result = {"text": make_environment(0).from_string(source).render(**variables)}
    except TemplateRaised as raised:
        result = {"error": str(raised), "raised": True}
    except Exception as error:  # noqa: BLE001  any failure of the template is a result to compare
        result = {"error": f"{type(error).__name__}: {error}", "raised": False}
    json.dump(result, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
