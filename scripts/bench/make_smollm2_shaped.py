#!/usr/bin/env python3
"""A random-weight checkpoint with SmolLM2-135M's shapes (30 layers, hidden 576, 9 heads / 3 KV heads,
head_dim 64, intermediate 1536, vocab 49152, tied), for speed measurements only. Not committed.

/work/venv/bin/python scripts/bench/make_smollm2_shaped.py OUT_DIR
"""
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/smollm2-135m-random"
torch.manual_seed(0)
config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                     num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                     rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                     rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
model = LlamaForCausalLM(config)
model.save_pretrained(out, safe_serialization=True)
print("wrote", out)
