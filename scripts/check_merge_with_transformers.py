#!/usr/bin/env python3
"""By-hand check that transformers loads what `readapt merge` writes, with PEFT's/numpy's weights.

Run after `swift build` (or `swift build -c release`) whenever the merge output format changes:
    /work/venv/bin/python scripts/check_merge_with_transformers.py [.build/debug/readapt]
For each case it runs `readapt merge` on Tests/ReAdaptTests/Fixtures/adapters/base, loads the output
with AutoModelForCausalLM.from_pretrained, compares every parameter with the case's golden
merged.safetensors, and compares the logits of a fixed sequence with those of the golden weights
loaded into the same architecture. A BF16 output (--dtype bf16) and a sharded output
(--max-shard-size 40KB) are loaded as well. The results are written to
Tests/ReAdaptTests/Fixtures/adapters/transformers_check.json (pinned by MergeCheckpointTests).
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(REPO, "Tests", "ReAdaptTests", "Fixtures", "adapters")
CASES = [
    ("lora_patterns", ["lora_patterns"], []),
    ("dora", ["dora"], []),
    ("embeddings", ["embeddings"], []),
    ("dense_vocab", ["dense_vocab:0.5"], []),
    ("lore", ["lore:0.5"], []),
    ("mix_ramp", ["dense_delta:0.5", "lora_patterns:1.0"], ["--layer-scale", "ramp:0.2,1.0", "--layer-scale", "attention=0.5"]),
]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".build", "debug", "readapt")
    sequence = [1, 5, 9, 3, 17, 30, 2, 8]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(name, adapters, extra, name) for name, adapters, extra in CASES]
        runs.append(("lora_patterns", ["lora_patterns"], ["--dtype", "bf16"], "lora_patterns_bf16"))
        runs.append(("dora", ["dora"], ["--max-shard-size", "40KB"], "dora_sharded"))
        for golden_case, adapters, extra, label in runs:
            out = os.path.join(tmp, label)
            cmd = [binary, "merge", "--base", os.path.join(FIX, "base"), "--output", out, "--json"] + extra
            for a in adapters:
                cmd += ["--adapter", os.path.join(FIX, a)]
            summary = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
            golden = load_file(os.path.join(FIX, golden_case, "merged.safetensors"))
            params = dict(model.named_parameters())
            worst = max((params[k].detach() - v).abs().max().item() for k, v in golden.items())
            reference = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(out), dtype=torch.float32).eval()
            reference.load_state_dict(golden, strict=False)
            with torch.no_grad():
                a = model(torch.tensor([sequence])).logits
                b = reference(torch.tensor([sequence])).logits
            results[label] = {"loaded": True, "files": sorted(os.listdir(out)), "shards": summary["shards"],
                              "vocab_size": model.config.vocab_size, "dtype": str(next(iter(
                                  load_file(os.path.join(out, summary["shards"][0])).values())).dtype),
                              "max_weight_difference": worst,
                              "max_logit_difference": (a - b).abs().max().item()}
            tolerance = 1e-2 if "bf16" in label else 1e-5
            assert worst <= tolerance, f"{label}: weights differ by {worst}"
            print(label, results[label])
    with open(os.path.join(FIX, "transformers_check.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
