#!/bin/bash
# Warm-cache timing of `readapt extract` on a synthetic pair against `cp -r` of the same inputs.
# Usage: scripts/bench/extract_vs_cp.sh PAIR_DIR [RUNS]   (PAIR_DIR from make_synthetic_pair.py)
# The inputs are read once first so every run finds them in the page cache; outputs go to /tmp.
# extract fsyncs its output before renaming it into place, so cp is timed alone and with `sync`.
set -e
PAIR=${1:?pair directory}; RUNS=${2:-3}
READAPT=${READAPT:-$(dirname "$0")/../../.build/release/readapt}
cat "$PAIR"/base/* "$PAIR"/instruct/* > /dev/null
for i in $(seq "$RUNS"); do
  rm -rf /tmp/cpcopy && mkdir /tmp/cpcopy && sync
  /usr/bin/time -f "cp -r: %e s" cp -r "$PAIR/base" "$PAIR/instruct" /tmp/cpcopy/
  /usr/bin/time -f "  then sync: %e s" sync
  rm -rf /tmp/synth-delta && sync
  /usr/bin/time -f "extract: %e s, peak RSS %M KB" "$READAPT" extract --base "$PAIR/base" \
    --instruct "$PAIR/instruct" --output /tmp/synth-delta 2>&1 | tail -1
done
rm -rf /tmp/cpcopy /tmp/synth-delta
