#!/usr/bin/env python3
"""Synthetic instruct - base deltas with SmolLM2-135M's linear shapes for `readapt bench lore`
and scripts/bench/lore_torch.py (not committed; about 425 MB of F32).

30 layers x {q 576x576, k 192x576, v 192x576, o 576x576, gate 1536x576, up 1536x576,
down 576x1536} = 210 matrices. Each delta is a power-law signal U diag(i^-alpha) V^T on r0
directions plus Gaussian noise:
  --profile lowrank (default): r0 = min(m, n)/2 - 24 directions, alpha from 1.2 (layer 0: tau = 0.5
      ranks of 1-2) down to 0.2 (layer 15: ranks ~20-80) and back to 0.7 (layer 29), noise RMS
      1 % of the signal RMS (variance share 1e-4). The shape of the paper's Figure 2/3 ranks.
  --profile concentrated: r0 = 40 directions (variance concentrated in few directions plus
      1e-4 noise: the regime where a sketch certifies the rank), same alphas; ranks 1-13.
  --profile heavy: the signal on every direction (r0 = min(m, n), a heavy power-law tail, as in
      real full fine-tuning deltas), same alphas and noise.
Deterministic (numpy seed 2026).

  /work/venv/bin/python scripts/bench/lore_make_deltas.py /tmp/lore_bench/deltas.safetensors
"""
import argparse
import os

import numpy as np
from safetensors.numpy import save_file

SHAPES = [("self_attn.q_proj", 576, 576), ("self_attn.k_proj", 192, 576), ("self_attn.v_proj", 192, 576),
          ("self_attn.o_proj", 576, 576), ("mlp.gate_proj", 1536, 576), ("mlp.up_proj", 1536, 576),
          ("mlp.down_proj", 576, 1536)]


def alpha(layer):
    return 0.2 + (1.0 * (1 - layer / 15) if layer <= 15 else 0.5 * (layer - 15) / 14)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--profile", choices=["lowrank", "concentrated", "heavy"], default="lowrank")
    parser.add_argument("--noise", type=float, default=0.01, help="noise RMS relative to the signal RMS")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    tensors = {}
    for layer in range(30):
        for name, m, n in SHAPES:
            p = min(m, n)
            r0 = {"heavy": p, "lowrank": p // 2 - 24, "concentrated": 40}[args.profile]
            u, _ = np.linalg.qr(rng.standard_normal((m, r0)).astype(np.float32))
            v, _ = np.linalg.qr(rng.standard_normal((n, r0)).astype(np.float32))
            values = np.arange(1, r0 + 1, dtype=np.float64) ** -alpha(layer)
            rms = 1e-3  # typical entry of an instruct - base delta
            values *= rms * np.sqrt(m * n) / np.linalg.norm(values)
            delta = (u * values.astype(np.float32)) @ v.T
            delta += (args.noise * rms) * rng.standard_normal((m, n)).astype(np.float32)
            tensors[f"model.layers.{layer}.{name}.weight"] = delta.astype(np.float32)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    save_file(tensors, args.output)
    print("wrote", len(tensors), "deltas to", args.output)


if __name__ == "__main__":
    main()
