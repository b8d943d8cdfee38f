#!/usr/bin/env python3
"""A synthetic Llama-shaped base/instruct pair for timing `readapt extract` and `readapt merge`.

Usage: python scripts/bench/make_synthetic_pair.py OUT_DIR [--params 1e9] [--dtype bf16|f16|f32]
       [--hidden 2048] [--intermediate 5632] [--vocab 32000] [--heads 32] [--kv-heads 4]
       [--max-shard-size 2000000000] [--seed 0]

Writes OUT_DIR/base and OUT_DIR/instruct, each a Hugging Face model directory (config.json and
model-0000k-of-0000N.safetensors shards + model.safetensors.index.json, shards filled in
state-dict order up to --max-shard-size like transformers). The layer count is chosen so the model
has about --params parameters (hidden 2048, intermediate 5632, vocab 32000: 20 layers = 1.01e9).
Weights are N(0, 0.02); instruct = base + N(0, 0.002), both rounded to --dtype once. Tensors are
generated and written in chunks of 8M elements with plain numpy (no torch, no bf16 numpy dtype:
bf16 is the upper half of float32 rounded to nearest even), so memory stays at a few chunks.
"""
import argparse
import json
import os
import struct

import numpy as np

CHUNK = 8 << 20


def tensor_list(layers, hidden, inter, vocab, heads, kv_heads):
    head_dim = hidden // heads
    kv = kv_heads * head_dim
    names = [("model.embed_tokens.weight", [vocab, hidden])]
    for i in range(layers):
        p = f"model.layers.{i}."
        names += [(p + "self_attn.q_proj.weight", [hidden, hidden]), (p + "self_attn.k_proj.weight", [kv, hidden]),
                  (p + "self_attn.v_proj.weight", [kv, hidden]), (p + "self_attn.o_proj.weight", [hidden, hidden]),
                  (p + "mlp.gate_proj.weight", [inter, hidden]), (p + "mlp.up_proj.weight", [inter, hidden]),
                  (p + "mlp.down_proj.weight", [hidden, inter]),
                  (p + "input_layernorm.weight", [hidden]), (p + "post_attention_layernorm.weight", [hidden])]
    names += [("model.norm.weight", [hidden]), ("lm_head.weight", [vocab, hidden])]
    return names


def encode(values, dtype):
    if dtype == "f32":
        return values.astype("<f4").tobytes()
    if dtype == "f16":
        return values.astype("<f2").tobytes()
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16       # round to nearest even
    return rounded.astype("<u2").tobytes()


def decode(raw, dtype):
    if dtype == "f32":
        return np.frombuffer(raw, "<f4")
    if dtype == "f16":
        return np.frombuffer(raw, "<f2").astype(np.float32)
    return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--params", type=float, default=1e9)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f16", "f32"])
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--intermediate", type=int, default=5632)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--max-shard-size", type=int, default=2_000_000_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    kv = a.kv_heads * (a.hidden // a.heads)
    per_layer = 2 * a.hidden * a.hidden + 2 * kv * a.hidden + 3 * a.hidden * a.intermediate + 2 * a.hidden
    layers = max(1, round((a.params - 2 * a.vocab * a.hidden) / per_layer))
    tensors = tensor_list(layers, a.hidden, a.intermediate, a.vocab, a.heads, a.kv_heads)
    size = {"bf16": 2, "f16": 2, "f32": 4}[a.dtype]
    st_dtype = {"bf16": "BF16", "f16": "F16", "f32": "F32"}[a.dtype]

    shards, current, current_size = [], [], 0        # huggingface_hub's rule
    for name, shape in tensors:
        n = int(np.prod(shape)) * size
        if current and current_size + n > a.max_shard_size:
            shards.append(current)
            current, current_size = [], 0
        current.append((name, shape))
        current_size += n
    shards.append(current)
    count = len(shards)
    files = [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": a.hidden,
              "intermediate_size": a.intermediate, "num_hidden_layers": layers, "num_attention_heads": a.heads,
              "num_key_value_heads": a.kv_heads, "vocab_size": a.vocab, "max_position_embeddings": 2048,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False, "hidden_act": "silu",
              "dtype": {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}[a.dtype]}
    total_params = sum(int(np.prod(s)) for _, s in tensors)
    index = {"metadata": {"total_parameters": total_params, "total_size": total_params * size},
             "weight_map": {name: files[i] for i, shard in enumerate(shards) for name, _ in shard}}
    for side in ("base", "instruct"):
        os.makedirs(os.path.join(a.out, side), exist_ok=True)
        with open(os.path.join(a.out, side, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        with open(os.path.join(a.out, side, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2, sort_keys=True)

    rng = np.random.default_rng(a.seed)
    for file, shard in zip(files, shards):
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape in shard:
            n = int(np.prod(shape)) * size
            header[name] = {"dtype": st_dtype, "shape": shape, "data_offsets": [offset, offset + n]}
            offset += n
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        outs = [open(os.path.join(a.out, side, file), "wb") for side in ("base", "instruct")]
        for out in outs:
            out.write(struct.pack("<Q", len(text)) + text)
        for name, shape in shard:
            remaining = int(np.prod(shape))
            norm = len(shape) == 1
            while remaining:
                n = min(CHUNK, remaining)
                base = (1 + 0.1 * rng.standard_normal(n, dtype=np.float32)) if norm else \
                    0.02 * rng.standard_normal(n, dtype=np.float32)
                raw = encode(base, a.dtype)
                outs[0].write(raw)
                instruct = decode(raw, a.dtype) + 0.002 * rng.standard_normal(n, dtype=np.float32)
                outs[1].write(encode(instruct, a.dtype))
                remaining -= n
        for out in outs:
            out.close()
        print(f"wrote {file} ({len(shard)} tensors)", flush=True)
    print(f"{layers} layers, {total_params / 1e9:.3f}e9 parameters, {total_params * size / 1e9:.2f} GB per model")


if __name__ == "__main__":
    main()
