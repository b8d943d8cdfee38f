"""Side-by-side peer for `readapt bench train`: PyTorch + PEFT training steps on SmolLM2-135M.

Times forward + backward + AdamW step of a LoRA/DoRA (or full) fine-tune at batch x seq-len on
pseudo-random tokens, fp32, with torch's threads set to --threads, and reports tokens/s (best of
--repeat after one warm-up) and the process's peak RSS.

    /work/venv/bin/python scripts/bench/peft_train_bench.py --gguf PATH --method lora --rank 64 \
        --alpha 128 --batch-size 4 --seq-len 256 --repeat 3 --threads 2 [--profile]
"""
import argparse, json, os, resource, sys, time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--method", choices=["lora", "dora", "full"], default="lora")
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--alpha", type=float, default=128)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true",
                    help="after the timed steps, run one more under torch.profiler and print the top ops to stderr")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(args.gguf), gguf_file=os.path.basename(args.gguf),
                                                 torch_dtype=torch.float32)
    model.config.use_cache = False
    if args.method != "full":
        from peft import LoraConfig, get_peft_model
        cfg = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout, target_modules="all-linear",
                         use_dora=args.method == "dora", task_type="CAUSAL_LM")
        model = get_peft_model(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (args.batch_size, args.seq_len), generator=g)
    times = []
    for i in range(args.repeat + 1):
        t0 = time.perf_counter()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        if i > 0:
            times.append(dt)
        print(f"step {i}: {dt:.2f} s loss {out.loss.item():.4f}", file=sys.stderr)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            out = model(input_ids=ids, labels=ids)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20), file=sys.stderr)
    best = min(times)
    tokens = args.batch_size * args.seq_len
    print(json.dumps({"peer": f"torch {torch.__version__} + peft", "method": args.method, "rank": args.rank,
                      "batch_size": args.batch_size, "seq_len": args.seq_len, "threads": args.threads,
                      "trainable_parameters": sum(p.numel() for p in params),
                      "best_step_seconds": round(best, 3), "tokens_per_second": round(tokens / best, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
