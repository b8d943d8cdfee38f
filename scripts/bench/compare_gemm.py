#!/usr/bin/env python3
"""Side-by-side table for BENCHMARKS.md from `readapt bench gemm --json` and
scripts/bench/torch_gemm.py --json outputs. Several files per side: each case keeps its best
(lowest) time over all runs, which filters out other processes' interference.

  python3 scripts/bench/compare_gemm.py --ours run1.json run2.json --torch t1.json t2.json
"""
import argparse
import json


def best(files):
    table = {}
    for name in files:
        with open(name) as f:
            for r in json.load(f):
                precision = r["path"].split(".")[-1]
                if r["path"] in ("GEMM.sgemm", "GEMM.sgemm NT", "torch.matmul"):
                    precision = "f32, raw sgemm"
                kind = "token" if r["label"].startswith("decode token") else "product"
                key = (kind, r["m"], r["n"], r["k"], precision)
                if key not in table or r["bestSeconds"] < table[key]["bestSeconds"]:
                    table[key] = r
    return table


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", nargs="+", required=True)
    p.add_argument("--torch", nargs="+", required=True)
    a = p.parse_args()
    ours, theirs = best(a.ours), best(a.torch)
    print("| case | m×n×k | weights | ReAdapt ms | PyTorch ms | PyTorch/ReAdapt | ReAdapt GFLOP/s | PyTorch GFLOP/s | ReAdapt weight GB/s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for key, r in ours.items():
        t = theirs.get(key)
        shape = f"{r['m']}×{r['n']}×{r['k']}" if r["k"] > 1 else f"1 token, {r['n'] / 1e6:.1f}M params"
        tms = f"{t['bestSeconds'] * 1e3:.3f}" if t else "–"
        ratio = f"{t['bestSeconds'] / r['bestSeconds']:.2f}" if t else "–"
        tg = f"{t['gflops']:.1f}" if t else "–"
        label = r["label"] if not r["label"].startswith("x") else "custom shape"
        print(f"| {label} | {shape} | {key[4]} | {r['bestSeconds'] * 1e3:.3f} | {tms} | {ratio} | "
              f"{r['gflops']:.1f} | {tg} | {r['weightGBps']:.1f} |")


if __name__ == "__main__":
    main()
