#!/usr/bin/env python3
"""Trains triage's second-stage risk head (`models/exact_heads.json`).

The fast path's heads read the distilled embedding; messages it finds plausibly
self-harm or a threat are read again by the exact encoder network, whose embedding
separates those meanings far better, and classified by this small network (one hidden
layer, ReLU, softmax over none and the risk kinds).

Input: the TSV written by
  cargo run --release -p firebreak-triage --example dump_embeddings -- ROWS.tsv exact
(split, source, label, lang, fast-path probabilities, exact embedding). Only the
`train` split is read. Thresholds are calibrated on out-of-fold predictions (five
folds) for a target precision, as for the fast heads.

Usage: python3 scripts/train_exact_heads.py ROWS.tsv crates/firebreak-triage/models/exact_heads.json
Needs numpy and scikit-learn (pip install numpy scikit-learn).
"""
import base64
import json
import sys

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

KINDS = ["none", "self_harm", "threat", "hate", "health_incident", "legal", "press"]
# The kinds whose P1 decision the second stage makes, with the out-of-fold precision
# their threshold is set for (the same as the fast heads' flag threshold).
DECIDES = {"self_harm": 0.85, "threat": 0.85}
HIDDEN = 256
SEED = 0


def risk_source(source):
    return not source.startswith("key_questions") and source not in ("sentiment", "first_line")


def load(path):
    labels, vectors = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            split, source, label, _lang, _fast, vector = line.rstrip("\n").split("\t")
            # The risk files only: their `none` rows are the hard look-alikes. (Adding
            # the key-question, sentiment and first-line rows as `none` was tried: more
            # false P1 and less recall on the held-out split.)
            if split != "train" or not risk_source(source):
                continue
            labels.append(KINDS.index(label) if label in KINDS else 0)
            vectors.append(np.array(vector.split(), dtype=np.float32))
    return np.vstack(vectors), np.array(labels)


def model():
    return make_pipeline(
        StandardScaler(),
        MLPClassifier((HIDDEN,), alpha=1e-2, max_iter=300, early_stopping=True, random_state=SEED),
    )


def calibrate(scores, positive, target):
    """The lowest threshold whose precision reaches `target` (within 0.05..0.98)."""
    for t in np.sort(scores):
        if t < 0.05:
            continue
        chosen = scores >= t
        if (chosen & positive).sum() / max(chosen.sum(), 1) >= target:
            return float(min(t, 0.98))
    return 0.98


def encode(array):
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode()


def main(rows_path, out_path):
    x, y = load(rows_path)
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
    oof = cross_val_predict(model(), x, y, cv=folds, method="predict_proba")
    fitted = model().fit(x, y)
    scaler, mlp = fitted.named_steps["standardscaler"], fitted.named_steps["mlpclassifier"]
    # Fold the standardisation into the first layer: h = relu(W1ᵀ((x - m) / s) + b1).
    w1 = mlp.coefs_[0] / scaler.scale_[:, None]
    b1 = mlp.intercepts_[0] - (scaler.mean_ / scaler.scale_) @ mlp.coefs_[0]
    thresholds, calibration = {}, {}
    for kind, target in DECIDES.items():
        k = KINDS.index(kind)
        t = calibrate(oof[:, k], y == k, target)
        chosen = oof[:, k] >= t
        recall = (chosen & (y == k)).sum() / max((y == k).sum(), 1)
        precision = (chosen & (y == k)).sum() / max(chosen.sum(), 1)
        thresholds[kind] = t
        calibration[kind] = f"out-of-fold recall {recall:.3f}, precision {precision:.3f} at {t:.3f}"
        print(f"{kind:<10} {calibration[kind]}")
    out = {
        "kinds": KINDS,
        "input": int(x.shape[1]),
        "hidden": HIDDEN,
        "w1": encode(w1),  # input × hidden, row-major
        "b1": encode(b1),
        "w2": encode(mlp.coefs_[1]),  # hidden × kinds, row-major
        "b2": encode(mlp.intercepts_[1]),
        "thresholds": thresholds,
        "calibration": calibration,
        "rows": int(len(y)),
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
