#!/usr/bin/env python3
"""By-hand check that PEFT loads the LoRA/DoRA adapters `TrainedModelWriter.writePEFTAdapter` writes
and gives the logits readapt gives with them.

Run after `swift build` (needs torch, transformers, peft; the adapters are written by the Swift tests):
    READAPT_UPDATE_TRAIN_OUTPUT_FIXTURES=1 swift test --filter TrainedModelWriterAdapterTests/testWrittenAdapterIsTheOnePEFTChecked
    /work/venv/bin/python scripts/check_train_adapter_with_peft.py [--readapt .build/debug/readapt]
That checks every recorded adapter in Tests/ReAdaptTests/Fixtures/train_outputs/<case>/ against its base
in Fixtures/training/ and writes the result to train_outputs/peft_check.json and PEFT's logits to
train_outputs/peft_logits.safetensors (pinned by TrainedModelWriterAdapterTests). It also loads the
recorded full checkpoints (train_outputs/checkpoint_*/, from TrainedModelWriter.writeCheckpoint, written by
READAPT_UPDATE_TRAIN_OUTPUT_FIXTURES=1 swift test --filter TrainedModelWriterCheckpointTests/testWrittenCheckpointIsTheOneTransformersChecked)
with transformers' from_pretrained and compares their logits with the ones TrainableModel computed
(checkpoint_logits.safetensors), result in train_outputs/transformers_check.json. Any other adapter:
    check_train_adapter_with_peft.py --base BASE_HF_DIR --adapter ADAPTER_DIR --ids 1,2,3 [--json OUT]

For each adapter:
  1. PeftModel.from_pretrained(base, adapter) (LoRA or DoRA, per its adapter_config.json), in eval mode;
     every tensor of adapter_model.safetensors must be loaded: the model's adapter state dict has
     exactly the file's keys (missing_keys / unexpected_keys empty) and equal values.
  2. PEFT's logits for the ids, against the logits of `readapt merge --base BASE --adapter ADAPTER`
     loaded with transformers (readapt's PEFT LoRA/DoRA math): max |difference| <= 1e-4.
  3. The same against the base's own logits, to show the adapter changes them (else the check is empty),
     and PEFT's merge_and_unload() weights against readapt's merged weights.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import peft
import torch
from peft import PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(REPO, "Tests", "ReAdaptTests", "Fixtures")
OUT = os.path.join(FIX, "train_outputs")
IDS = [3, 41, 7, 88, 15, 60, 2, 33]
TOLERANCE = 1e-4


def check(readapt, base_dir, adapter_dir, ids):
    tokens = torch.tensor([ids])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
        base_logits = base(tokens).logits[0]
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
        saved = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
        loaded = get_peft_model_state_dict(model, save_embedding_layers=False)
        missing = sorted(set(loaded) - set(saved))
        unexpected = sorted(set(saved) - set(loaded))
        all_loaded = not missing and not unexpected and all(torch.equal(loaded[k], saved[k]) for k in saved)
        peft_logits = model(tokens).logits[0]
        peft_merged = {k: v.clone() for k, v in model.merge_and_unload().state_dict().items()}

    with tempfile.TemporaryDirectory() as tmp:
        merged_dir = os.path.join(tmp, "merged")
        subprocess.run([readapt, "merge", "--base", base_dir, "--adapter", adapter_dir, "--output", merged_dir, "--json"],
                       check=True, capture_output=True, text=True)
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
        with torch.no_grad():
            merge_logits = merged(tokens).logits[0]
        ours = merged.state_dict()
        weight_difference = max((ours[k] - v).abs().max().item() for k, v in peft_merged.items() if k in ours)

    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        config = json.load(f)
    result = {
        "peft_version": peft.__version__,
        "use_dora": config.get("use_dora", False),
        "use_rslora": config.get("use_rslora", False),
        "input_ids": ids,
        "adapter_tensors": len(saved),
        "missing_keys": missing,
        "unexpected_keys": unexpected,
        "all_tensors_loaded": all_loaded,
        "max_logit_difference_peft_vs_readapt_merge": (peft_logits - merge_logits).abs().max().item(),
        "max_logit_difference_peft_vs_base": (peft_logits - base_logits).abs().max().item(),
        "max_weight_difference_peft_merge_vs_readapt_merge": weight_difference,
    }
    result["passed"] = all_loaded and result["max_logit_difference_peft_vs_readapt_merge"] <= TOLERANCE
    return result, peft_logits.contiguous()


def check_checkpoint(directory, ids, readapt_logits):
    """transformers loads a checkpoint TrainedModelWriter.writeCheckpoint wrote, every tensor of it,
    and gives the logits TrainableModel computed before writing."""
    model, info = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, output_loading_info=True)
    with torch.no_grad():
        logits = model.eval()(torch.tensor([ids])).logits
    return {
        "input_ids": ids,
        "architecture": type(model).__name__,
        "tied_head": bool(model.config.tie_word_embeddings),
        "missing_keys": sorted(info["missing_keys"]),
        "unexpected_keys": sorted(info["unexpected_keys"]),
        "mismatched_keys": sorted(str(k) for k in info["mismatched_keys"]),
        "max_logit_difference_transformers_vs_readapt": (logits - readapt_logits).abs().max().item(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readapt", default=os.path.join(REPO, ".build", "debug", "readapt"))
    parser.add_argument("--base")
    parser.add_argument("--adapter")
    parser.add_argument("--ids", help="comma-separated token ids")
    parser.add_argument("--json", help="where to write the result (default: stdout only)")
    args = parser.parse_args()

    if args.adapter:
        if not args.base:
            parser.error("--adapter needs --base")
        ids = [int(x) for x in args.ids.split(",")] if args.ids else IDS
        result, _ = check(args.readapt, args.base, args.adapter, ids)
        print(json.dumps(result, indent=2, sort_keys=True))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2, sort_keys=True)
        return 0 if result["passed"] else 1

    results, logits = {}, {}
    for name in sorted(os.listdir(OUT)):
        adapter = os.path.join(OUT, name)
        if not os.path.exists(os.path.join(adapter, "adapter_config.json")):
            continue
        with open(os.path.join(adapter, "adapter_config.json")) as f:
            base = os.path.join(FIX, json.load(f)["base_model_name_or_path"])  # "training/<model>"
        results[name], logits[name] = check(args.readapt, base, adapter, IDS)
        print(name, json.dumps(results[name], sort_keys=True))
    with open(os.path.join(OUT, "peft_check.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file(logits, os.path.join(OUT, "peft_logits.safetensors"))

    with open(os.path.join(OUT, "checkpoint_cases.json")) as f:
        cases = json.load(f)
    readapt_logits = load_file(os.path.join(OUT, "checkpoint_logits.safetensors"))
    checkpoints = {}
    for name, case in sorted(cases.items()):
        checkpoints[name] = check_checkpoint(os.path.join(OUT, name), case["input_ids"], readapt_logits[name])
        print(name, json.dumps(checkpoints[name], sort_keys=True))
    with open(os.path.join(OUT, "transformers_check.json"), "w") as f:
        json.dump(checkpoints, f, indent=2, sort_keys=True)
        f.write("\n")
    passed = results and all(r["passed"] for r in results.values()) and all(
        not c["missing_keys"] and not c["unexpected_keys"] and c["max_logit_difference_transformers_vs_readapt"] <= TOLERANCE
        for c in checkpoints.values())
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
