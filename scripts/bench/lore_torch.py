#!/usr/bin/env python3
"""The exact-SVD baseline of `readapt bench lore`: torch.linalg.svd (thin, 2 threads) of every delta
in the file written by lore_make_deltas.py, then the LoRE rank rule (smallest k with
cumsum(s^2) >= tau * sum(s^2)) in float64. Prints seconds (best of --repeats) and writes the ranks
as JSON for the Swift benchmark to compare (--ranks).

  /work/venv/bin/python scripts/bench/lore_torch.py /tmp/lore_bench/deltas.safetensors \
      --ranks /tmp/lore_bench/torch_ranks.json
"""
import argparse
import json
import time

import torch
from safetensors.torch import load_file


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("deltas")
    parser.add_argument("--tau", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ranks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    deltas = load_file(args.deltas)
    names = sorted(deltas)
    times, ranks = [], {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        for name in names:
            u, s, vh = torch.linalg.svd(deltas[name], full_matrices=False)
            squares = s.double() ** 2
            cumulative = torch.cumsum(squares, 0)
            k = int(torch.argmax((cumulative >= args.tau * cumulative[-1]).to(torch.int8))) + 1
            ranks[name] = k
        times.append(time.perf_counter() - start)
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "matrices": len(names),
                      "seconds": [round(t, 3) for t in times], "best_seconds": round(min(times), 3),
                      "rank_min": min(ranks.values()), "rank_max": max(ranks.values()),
                      "rank_sum": sum(ranks.values())}))
    if args.ranks:
        with open(args.ranks, "w") as f:
            json.dump(ranks, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
