#!/usr/bin/env bash
# Retrains every trained part of triage from crates/firebreak-triage/training/train:
# the fast heads (models/semantic.json), then the second-stage head over the exact
# encoder network (models/exact_heads.json) and the known messages it is checked against
# (models/exact_neighbours.json). Needs python3 with numpy and scikit-learn.
# The risk heads also learn from the training half of the openly licensed third-party
# suites in the shared datasets directory (first argument, default ../shared/datasets;
# see semantic::third_party); without it they learn from this repository's rows only.
set -euo pipefail
cd "$(dirname "$0")/.."
datasets="${1:-../shared/datasets}"
cargo run --release -q -p firebreak-triage --example train_semantic -- "$datasets"
rows="$(mktemp --suffix=.tsv)"
trap 'rm -f "$rows"' EXIT
cargo run --release -q -p firebreak-triage --example dump_embeddings -- "$rows" exact "$datasets"
python3 scripts/train_exact_heads.py "$rows" crates/firebreak-triage/models/exact_heads.json
python3 scripts/build_exact_neighbours.py "$rows" crates/firebreak-triage/models/exact_neighbours.json
