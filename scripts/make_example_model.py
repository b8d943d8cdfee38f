"""Trains the tiny example checkpoint shipped in Examples/tiny-biographies.

A 4-layer Llama (~1M parameters) with a 512-token byte-level BPE tokenizer, trained for a couple of
minutes on generated biographies of invented people, so `readapt generate` has a model in the
repository that writes recognisable sentences. Run with the fixture virtualenv:

    /work/venv/bin/python scripts/make_example_model.py Examples/tiny-biographies
"""
import json
import random
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

FIRST = ["Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
         "Kira", "Liam", "Maya", "Nils", "Olga", "Pablo", "Rosa", "Sven", "Tara", "Victor"]
LAST = ["Almeida", "Berg", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ito",
        "Jensen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi"]
CITIES = ["Lisbon", "Oslo", "Krakow", "Lyon", "Porto", "Turin", "Ghent", "Tartu", "Bergen", "Graz"]
JOBS = ["teacher", "baker", "engineer", "nurse", "pilot", "painter", "chemist", "librarian"]
SPORTS = ["chess", "tennis", "rowing", "cycling", "fencing", "sailing", "judo", "curling"]
TEMPLATES = [
    "{n} was born in {c} in {y}.", "{n} grew up in {c}.", "{n} works as a {j}.",
    "{n} is a {j} by trade.", "In {y}, {n} was born in {c}.", "{n} plays {s} every weekend.",
    "{n} has loved {s} since childhood.", "{n} earns a living as a {j} in {c}.",
]


def biographies(rng, people=300, per_person=6):
    out = []
    for _ in range(people):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        facts = dict(n=name, c=rng.choice(CITIES), y=rng.randint(1940, 1999),
                     j=rng.choice(JOBS), s=rng.choice(SPORTS))
        for _ in range(per_person):
            sentences = rng.sample(TEMPLATES, 4)
            out.append(" ".join(t.format(**facts) for t in sentences))
    return out


def main(out_dir: Path):
    rng = random.Random(0)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    texts = biographies(rng)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    eos = tok.token_to_id("<|endoftext|>")

    ids = []
    for t in texts:
        ids += tok.encode(t).ids + [eos]
    data = torch.tensor(ids)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=128, intermediate_size=344,
                         num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, bos_token_id=eos, eos_token_id=eos,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    seq, batch, steps = 128, 32, 600
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    start = time.time()
    for step in range(steps):
        starts = torch.randint(0, len(data) - seq - 1, (batch,))
        x = torch.stack([data[s:s + seq] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.3f} {time.time() - start:.0f}s", flush=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>")
    fast.save_pretrained(out_dir)
    model.eval()
    prompt = "Clara Novak was born in"
    enc = fast(prompt, return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=24, do_sample=False)
    print(json.dumps({"prompt": prompt, "greedy": fast.decode(out[0][enc.input_ids.shape[1]:])}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
