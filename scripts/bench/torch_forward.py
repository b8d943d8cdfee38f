#!/usr/bin/env python3
"""PyTorch fp32 eager + transformers reference timings for a checkpoint directory, 2 threads.

/work/venv/bin/python scripts/bench/torch_forward.py MODEL_DIR [--prompt 512] [--new 128] [--repeats 3]
Prints the best of `repeats` for: prefill of 1×prompt tokens (one forward, logits of the last
position only, as generate does), and greedy generate of `new` tokens after a 16-token prompt
(decode tokens/s = (new - 1) / (total - prefill of the 16-token prompt)).
"""
import argparse
import time

import torch
from transformers import AutoModelForCausalLM

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--prompt", type=int, default=512)
parser.add_argument("--new", type=int, default=128)
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

torch.set_num_threads(args.threads)
model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="sdpa").eval()
vocab = model.config.vocab_size
g = torch.Generator().manual_seed(0)
ids = torch.randint(3, vocab, (1, args.prompt), generator=g)

with torch.inference_mode():
    model(ids[:, :16], logits_to_keep=1)  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        model(ids, logits_to_keep=1)
        best = min(best, time.perf_counter() - t)
    print(f"torch prefill {args.prompt} tokens: {best * 1000:.1f} ms = {args.prompt / best:.1f} tok/s")

    short = ids[:, :16]
    best_short = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        model(short, logits_to_keep=1)
        best_short = min(best_short, time.perf_counter() - t)
    best_gen = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        out = model.generate(short, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
        best_gen = min(best_gen, time.perf_counter() - t)
    new = out.shape[1] - short.shape[1]
    decode = best_gen - best_short
    print(f"torch generate {new} tokens: {best_gen * 1000:.1f} ms total, decode {(new - 1) / decode:.1f} tok/s")
