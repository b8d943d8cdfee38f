"""Peer of `readapt bench optim`: one torch.optim.AdamW step and one clip_grad_norm_ over N F32
parameters (one flat tensor), best of --repeat, with torch's threads set to --threads.

    /work/venv/bin/python scripts/bench/torch_adamw_bench.py --parameters 134515008 --threads 2

AdamW runs with torch's defaults for a CPU tensor (foreach=None picks the foreach implementation;
--impl selects for_each, fused or the single-tensor loop explicitly).
"""
import argparse, json, time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parameters", type=int, default=134_515_008)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--impl", choices=["default", "foreach", "fused", "single"], default="default")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.parameters
    i = torch.arange(n, dtype=torch.int64)
    p = torch.nn.Parameter((i % 97).float() * 0.01)
    p.grad = (i % 89).float() * 0.001 - 0.04
    del i
    kwargs = {"foreach": True} if args.impl == "foreach" else {"fused": True} if args.impl == "fused" \
        else {"foreach": False} if args.impl == "single" else {}
    opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, **kwargs)
    best_step = best_clip = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        opt.step()
        t1 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_([p], 1e9)
        t2 = time.perf_counter()
        best_step, best_clip = min(best_step, t1 - t0), min(best_clip, t2 - t1)
    print(json.dumps({"peer": f"torch {torch.__version__}", "impl": args.impl, "threads": args.threads,
                      "parameters": n, "adamw_step_seconds": round(best_step, 4),
                      "clip_seconds": round(best_clip, 4),
                      "adamw_gb_per_second": round(n * 4 * 7 / best_step / 1e9, 1)}))


if __name__ == "__main__":
    main()
