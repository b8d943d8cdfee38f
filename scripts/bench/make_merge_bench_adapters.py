#!/usr/bin/env python3
"""Adapters for the `readapt merge` benchmark on a synthetic base/instruct pair (docs/merge.md).

    /work/venv/bin/python scripts/bench/make_merge_bench_adapters.py BASE INSTRUCT OUT
writes OUT/delta (a dense delta checkpoint instruct - base in readapt's DeltaMetadata layout, BF16,
sharded like the base) and OUT/dora (a rank-64 PEFT DoRA adapter on every linear layer, BF16, random
factors and magnitudes near the base's row norms), streaming one tensor at a time.
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file


def main():
    base, instruct, out = sys.argv[1:4]
    with open(os.path.join(base, "model.safetensors.index.json")) as f:
        index = json.load(f)
    with open(os.path.join(base, "config.json"), "rb") as f:
        config_bytes = f.read()
    shards = sorted(set(index["weight_map"].values()))
    delta_dir = os.path.join(out, "delta")
    os.makedirs(delta_dir, exist_ok=True)
    names = []
    for shard in shards:
        tensors = {}
        with safe_open(os.path.join(base, shard), "pt") as b, safe_open(os.path.join(instruct, shard), "pt") as i:
            for name in b.keys():
                tensors[name] = (i.get_tensor(name).float() - b.get_tensor(name).float()).to(torch.bfloat16)
                names.append(name)
        save_file(tensors, os.path.join(delta_dir, shard), metadata={"format": "pt"})
        del tensors
    with open(os.path.join(delta_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
    meta = {"format": "readapt-delta", "version": 1, "kind": "dense",
            "base": {"path": base, "config_sha256": hashlib.sha256(config_bytes).hexdigest(), "model_type": "llama"},
            "instruct": {"path": instruct, "config_sha256": "", "model_type": "llama"},
            "dtype": "BF16", "groups": ["linear", "embeddings", "head", "norms", "biases"], "tensors": sorted(names),
            "tied_embeddings": False, "base_vocab_size": 32000, "instruct_vocab_size": 32000, "carried_row_tensors": []}
    with open(os.path.join(delta_dir, "readapt_delta.json"), "w") as f:
        json.dump(meta, f, indent=2)

    r = 64
    g = torch.Generator().manual_seed(0)
    dora = {}
    for shard in shards:
        with safe_open(os.path.join(base, shard), "pt") as b:
            for name in b.keys():
                if not name.endswith("proj.weight"):
                    continue
                w = b.get_tensor(name).float()
                module = "base_model.model." + name[: -len(".weight")]
                dora[module + ".lora_A.weight"] = (torch.randn(r, w.shape[1], generator=g) * 0.01).to(torch.bfloat16)
                dora[module + ".lora_B.weight"] = (torch.randn(w.shape[0], r, generator=g) * 0.01).to(torch.bfloat16)
                dora[module + ".lora_magnitude_vector"] = (w.norm(dim=1) * 1.01).to(torch.bfloat16)
    dora_dir = os.path.join(out, "dora")
    os.makedirs(dora_dir, exist_ok=True)
    save_file(dora, os.path.join(dora_dir, "adapter_model.safetensors"))
    with open(os.path.join(dora_dir, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": r, "lora_alpha": 128, "use_dora": True, "target_modules": "all-linear",
                   "bias": "none", "fan_in_fan_out": False, "task_type": "CAUSAL_LM"}, f, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    sys.exit(main())
