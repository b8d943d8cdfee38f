#!/usr/bin/env python3
"""By-hand check that a directory written by `readapt convert` is what transformers itself makes
of the GGUF file: same token ids and chat prompt (AutoTokenizer) and the same F32 logits
(AutoModelForCausalLM) as transformers' GGUF loader (`from_pretrained(dir, gguf_file=...)`).

Usage: /work/venv/bin/python scripts/check_convert_with_transformers.py FILE.gguf CONVERTED_DIR [TEXT]
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    gguf_path, converted = sys.argv[1], sys.argv[2]
    text = sys.argv[3] if len(sys.argv) > 3 else "The capital of France is Paris. Café, naïve — 日本語 🎉."
    folder, name = os.path.dirname(os.path.abspath(gguf_path)), os.path.basename(gguf_path)
    from_gguf, from_dir = AutoTokenizer.from_pretrained(folder, gguf_file=name), AutoTokenizer.from_pretrained(converted)
    ids = from_gguf(text)["input_ids"]
    print("token ids equal:", ids == from_dir(text)["input_ids"], f"({len(ids)} tokens)")
    if from_gguf.chat_template:
        messages = [{"role": "user", "content": text}]
        same = (from_gguf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                == from_dir.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        print("chat prompt equal:", same)
    model_gguf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    model_dir = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32).eval()
    with torch.no_grad():
        a = model_gguf(torch.tensor([ids])).logits
        b = model_dir(torch.tensor([ids])).logits
    print(f"logits max abs diff: {(a - b).abs().max().item():.3g} (max |logit| {a.abs().max().item():.3g})")


if __name__ == "__main__":
    main()
