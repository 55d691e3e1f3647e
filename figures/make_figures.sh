#!/usr/bin/env bash
# Regenerate the reference figures and their metrics in figures/ from full MNIST (about 10 minutes on 2 cores), with
# the project's venv active (or its .venv next to this folder) and MNIST where autoencoder.py finds it:
#   bash figures/make_figures.sh
# The ablation table and figure come from their own, longer command (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
py=python
[ -x .venv/bin/python ] && py=.venv/bin/python
mkdir -p runs
out=$(mktemp -d runs/reference.XXXX)  # a fresh folder, so the run names below are exact
# --fix trains 20 epochs: evaluating every 2 (which reads the weights, never changes them) gives its health figure
# ten points instead of two
for flags in "--no-shuffle" "" "--kernels 5x5,3x3" "--fix --eval-every 2"; do
  # shellcheck disable=SC2086
  $py autoencoder.py --out "$out" $flags
done
$py visualize.py "$out/question" "$out/kernels-5x5,3x3" "$out/fix" --out figures/before_after.png
for run in no-shuffle question kernels-5x5,3x3 fix; do
  for fig in reconstructions activations codes loss filters pca health; do
    cp "$out/$run/$fig.png" "figures/${run}_$fig.png"
  done
  cp "$out/$run/metrics.json" "figures/${run}_metrics.json"  # the numbers the README quotes, and its sample output
done
echo "figures/ updated from $out"
