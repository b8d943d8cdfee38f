#!/usr/bin/env python3
"""PyTorch peer of `readapt bench gemm`: the same shapes, timed the same way (best of R rounds,
each round >= ~30 ms), torch.matmul / F.linear on CPU with 2 threads.

  /work/venv/bin/python scripts/bench/torch_gemm.py [--m M --n N --k K] [--repeat R] [--json]
      [--precisions f32,bf16] [--threads 2] [--decode-token-only]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

MODEL_WEIGHTS = [("q_proj/o_proj", 576, 576), ("k_proj/v_proj", 192, 576),
                 ("gate/up_proj", 1536, 576), ("down_proj", 576, 1536), ("lm_head", 49152, 576)]
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def timed(fn, repeats):
    fn()
    t0 = time.perf_counter(); fn(); once = time.perf_counter() - t0
    iterations = max(1, int(0.03 / max(once, 1e-7)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter() - t0) / iterations)
    samples.sort()
    return samples[0], samples[len(samples) // 2]


def run_case(label, m, n, k, precision, repeats):
    x = torch.rand(m, k) * 2 - 1
    if precision is None:  # plain sgemm A[m,k] @ B[k,n]
        b = torch.rand(k, n) * 0.2 - 0.1
        out = torch.empty(m, n)
        fn = lambda: torch.matmul(x, b, out=out)
        path, bytes_per = "torch.matmul", 4
    else:
        dtype = DTYPES[precision]
        w = (torch.rand(n, k) * 0.2 - 0.1).to(dtype)
        xd = x.to(dtype)
        fn = lambda: F.linear(xd, w)
        path, bytes_per = f"F.linear.{precision}", w.element_size()
    with torch.inference_mode():
        best, median = timed(fn, repeats)
    return {"label": label, "path": path, "m": m, "n": n, "k": k, "bestSeconds": best,
            "medianSeconds": median, "gflops": 2.0 * m * n * k / best / 1e9,
            "weightGBps": n * k * bytes_per / best / 1e9}


def run_model_decode(precision, repeats, layers=30):
    """One decode token through 211 distinct SmolLM2-135M matrices (weights from memory)."""
    dtype = DTYPES[precision]
    shapes = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576), (576, 1536)]
    mats = [(torch.rand(o, i) * 0.2 - 0.1).to(dtype) for _ in range(layers) for o, i in shapes]
    mats.append((torch.rand(49152, 576) * 0.2 - 0.1).to(dtype))
    xs = {i: torch.rand(1, i).to(dtype) for i in (576, 1536)}

    def token():
        for w in mats:
            F.linear(xs[w.shape[1]], w)
    with torch.inference_mode():
        token()
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter(); token(); samples.append(time.perf_counter() - t0)
    samples.sort()
    params = sum(w.numel() for w in mats)
    nbytes = sum(w.numel() * w.element_size() for w in mats)
    return {"label": f"decode token ({len(mats)} mats)", "path": f"F.linear.{precision}", "m": 1,
            "n": params, "k": 1, "bestSeconds": samples[0], "medianSeconds": samples[len(samples) // 2],
            "gflops": 2.0 * params / samples[0] / 1e9, "weightGBps": nbytes / samples[0] / 1e9}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--m", type=int); p.add_argument("--n", type=int); p.add_argument("--k", type=int)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--precisions", default="f32,bf16")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--decode-token-only", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    precisions = [s.strip() for s in a.precisions.split(",")]
    cases = []
    if a.decode_token_only:
        pass
    elif a.m is not None:
        cases.append(("matmul x@B", a.m, a.n, a.k, None))
        cases += [("x@W.T", a.m, a.n, a.k, pr) for pr in precisions]
    else:
        cases.append(("sgemm 1024^3", 1024, 1024, 1024, None))
        for rows in (512, 1):
            for name, out, inn in MODEL_WEIGHTS:
                for pr in precisions:
                    cases.append((f"{'decode' if rows == 1 else 'prefill'} {name}", rows, out, inn, pr))
    results = []
    if not a.json:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        print("case                     path                  m      n      k   best ms  GFLOP/s  weight GB/s")
    for c in cases:
        r = run_case(*c, a.repeat)
        results.append(r)
        if not a.json:
            print(f"{r['label']:<24} {r['path']:<19} {r['m']:5d} {r['n']:6d} {r['k']:6d} "
                  f"{r['bestSeconds'] * 1e3:9.3f} {r['gflops']:8.1f} {r['weightGBps']:12.1f}")
    if a.m is None:
        for pr in precisions:
            r = run_model_decode(pr, a.repeat)
            results.append(r)
            if not a.json:
                print(f"{r['label']:<24} {r['path']:<19} {r['m']:5d} {r['n']:6d} {r['k']:6d} "
                      f"{r['bestSeconds'] * 1e3:9.3f} {r['gflops']:8.1f} {r['weightGBps']:12.1f}")
    if a.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
