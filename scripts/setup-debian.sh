#!/usr/bin/env bash
# Installs the Debian packages ReAdapt builds against. Safe to run repeatedly; needs root.
set -euo pipefail
packages=(libdnnl-dev liblapacke-dev libopenblas-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
