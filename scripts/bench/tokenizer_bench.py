#!/usr/bin/env python3
"""Tokenizer throughput of the Python `tokenizers` library, for comparison with `readapt tokenize`.

Builds a deterministic ~4 MB mixed text (Python sources and docstrings from the installed
transformers package, plus multilingual prose) at /tmp/tokenizer_bench.txt, then times
`Tokenizer.from_file(...)`, single-threaded `encode` of the whole text, and `encode_batch` of its
lines (with RAYON_NUM_THREADS as given), best of 5.

Run:  /work/venv/bin/python scripts/bench/tokenizer_bench.py Tests/ReAdaptTests/Fixtures/tokenizers/smollm2/tokenizer.json
"""
import os
import sys
import time

import transformers

TARGET = 4 * 1024 * 1024
OUT = "/tmp/tokenizer_bench.txt"

MULTILINGUAL = [
    "Le renard brun rapide saute par-dessus le chien paresseux, n'est-ce pas ? Ça été très français.",
    "Der schnelle braune Fuchs springt über den faulen Hund. Größe, Straße, Übung macht den Meister.",
    "日本語のテキストです。東京は大きな都市です。ひらがなとカタカナ、漢字が混ざっています。",
    "中文文本，我们正在测试分词器的速度。你好，世界！今天天气很好。",
    "한국어 텍스트입니다. 안녕하세요, 세계! 토크나이저 속도를 측정합니다.",
    "ภาษาไทยเป็นภาษาที่สวยงาม สวัสดีครับ วันนี้อากาศดี",
    "हिन्दी भाषा में लिखा गया पाठ। नमस्ते दुनिया, क्षत्रिय संयुक्ताक्षर।",
    "مرحبا بالعالم، هذا نص عربي لاختبار سرعة المحلل.",
    "Быстрая коричневая лиса прыгает через ленивую собаку. Привет, мир!",
    "Emoji 😀 😂 👍🏽 ❤️ 🎉 👨‍👩‍👧‍👦 and numbers 1234567 3.14159 2026-11-22.",
]


def build_text():
    root = os.path.dirname(transformers.__file__)
    files = []
    for d, _, names in os.walk(root):
        files += [os.path.join(d, n) for n in names if n.endswith(".py")]
    files.sort()
    parts, size, i = [], 0, 0
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            code = fh.read()
        parts.append(code)
        line = MULTILINGUAL[i % len(MULTILINGUAL)] + "\n"
        parts.append(line * 3)
        size += len(code.encode()) + 3 * len(line.encode())
        i += 1
        if size >= TARGET:
            break
    text = "".join(parts)
    with open(OUT, "w", encoding="utf-8") as fh:
        fh.write(text)
    return text


def best(f, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = f()
        times.append(time.perf_counter() - t)
    return min(times), r


def main():
    from tokenizers import Tokenizer
    path = sys.argv[1]
    text = build_text()
    mb = len(text.encode()) / 1e6
    load, tok = best(lambda: Tokenizer.from_file(path))
    single, enc = best(lambda: tok.encode(text, add_special_tokens=False))
    lines = text.splitlines(keepends=True)
    batch, _ = best(lambda: tok.encode_batch(lines, add_special_tokens=False))
    print(f"text: {OUT} {mb:.2f} MB, {len(enc.ids)} tokens")
    print(f"load: {load * 1000:.0f} ms")
    print(f"encode (one call, whole text): {single:.3f} s = {mb / single:.2f} MB/s")
    print(f"encode_batch (lines, RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'all')}): "
          f"{batch:.3f} s = {mb / batch:.2f} MB/s")
    with open(OUT + ".ids", "w") as fh:
        fh.write(" ".join(map(str, enc.ids)))


if __name__ == "__main__":
    main()
