#!/usr/bin/env bash
# Runs benchmarks/speed.py for the DRAW and alignDRAW flagfiles on both backends; one JSON
# line each.
# Usage: benchmarks/run_all.sh [extra flags for speed.py]   (from the checkout, venv active)
set -euo pipefail
cd "$(dirname "$0")/.."
for flagfile in flags/draw_mnist flags/draw_mnist_noattn flags/mnist_captions_aligndraw; do
  for backend in jax tensorflow; do
    KERAS_BACKEND=$backend python benchmarks/speed.py --flagfile="$flagfile" "$@" 2>/dev/null | tail -n 1
  done
done
