//! The encoder against the reference: the same sentences embedded by the PyPI package's
//! own forward pass (full 128k vocabulary), written by `scripts/build-encoder-model.py`.

use firebreak_encoder::{Encoder, MODEL_BYTES, MODEL_SHA256, sha256_hex};

#[derive(serde::Deserialize)]
struct Reference {
    text: String,
    pieces: Vec<String>,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    include_str!("reference.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("reference line parses"))
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn committed_model_matches_its_checksum() {
    let expected = MODEL_SHA256.split_whitespace().next().unwrap();
    assert_eq!(sha256_hex(MODEL_BYTES), expected);
    assert!(
        MODEL_BYTES.len() < 40_000_000,
        "the model file must stay under 40 MB"
    );
}

#[test]
fn exact_embeddings_match_the_reference_model() {
    let encoder = Encoder::shared();
    // Where pruning changed the segmentation (German, Spanish, odd digit runs), the
    // input itself differs; every other sentence must match.
    for r in references()
        .into_iter()
        .filter(|r| encoder.pieces(&r.text) == r.pieces)
    {
        let got = encoder.embed_exact(&r.text);
        let cos = cosine(got.as_slice(), &r.embedding);
        assert!(
            cos >= 0.99,
            "{:?}: cosine {cos:.4} with the reference",
            r.text
        );
    }
}

#[test]
fn fast_embeddings_keep_the_reference_neighbourhoods() {
    // The fast path lives in its own space (centred pooled vectors, no head), so it is
    // checked on what triage uses: which sentences are near which. The pairwise cosines
    // of the two spaces must correlate.
    let encoder = Encoder::shared();
    let refs: Vec<Reference> = references()
        .into_iter()
        .filter(|r| encoder.pieces(&r.text) == r.pieces)
        .collect();
    let fast: Vec<_> = refs.iter().map(|r| encoder.embed(&r.text)).collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..refs.len() {
        for j in i + 1..refs.len() {
            xs.push(cosine(&refs[i].embedding, &refs[j].embedding));
            ys.push(fast[i].cosine(&fast[j]));
        }
    }
    let r = pearson(&xs, &ys);
    assert!(
        r >= 0.6,
        "pairwise-cosine correlation with the reference {r:.3}"
    );
}

fn pearson(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len() as f32;
    let (mx, my) = (x.iter().sum::<f32>() / n, y.iter().sum::<f32>() / n);
    let cov: f32 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f32 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let vy: f32 = y.iter().map(|b| (b - my) * (b - my)).sum();
    cov / (vx.sqrt() * vy.sqrt())
}

#[test]
fn french_and_english_paraphrases_land_close() {
    let e = Encoder::shared();
    let pairs = [
        (
            "I took all my pills an hour ago",
            "j'ai avalé toutes mes pilules",
        ),
        (
            "when do I get my money back",
            "quand est-ce que je serai remboursé",
        ),
    ];
    for (en, fr) in pairs {
        let same = e.embed(en).cosine(&e.embed(fr));
        let other = e
            .embed(en)
            .cosine(&e.embed("le magasin ouvre à quelle heure ?"));
        assert!(
            same > other + 0.15,
            "{en:?} / {fr:?}: {same:.3} vs unrelated {other:.3}"
        );
    }
}

#[test]
fn french_and_english_text_tokenizes_like_the_reference() {
    let encoder = Encoder::shared();
    // Pruning drops pieces only outside French and English usage; the sentences that
    // are French or English must segment exactly as the full vocabulary does.
    let mut exact = 0;
    let refs = references();
    for r in &refs {
        if encoder.pieces(&r.text) == r.pieces {
            exact += 1;
        } else {
            eprintln!(
                "{:?}: {:?} vs reference {:?}",
                r.text,
                encoder.pieces(&r.text),
                r.pieces
            );
        }
    }
    assert!(
        exact + 3 >= refs.len(),
        "{exact} of {} segmented like the reference",
        refs.len()
    );
}

#[test]
fn corrupt_model_files_are_refused_not_panicked_on() {
    assert!(Encoder::from_bytes(b"").is_err());
    assert!(Encoder::from_bytes(b"FBENC\0\0\x01\xff\xff\xff\xff").is_err());
    let truncated = &MODEL_BYTES[..MODEL_BYTES.len() / 2];
    assert!(Encoder::from_bytes(truncated).is_err());
}

#[test]
fn empty_and_odd_inputs_embed_to_unit_vectors() {
    let e = Encoder::shared();
    for text in [
        "",
        "   ",
        "\u{0}",
        "🔥",
        &"a".repeat(5000),
        "ا لسلام عليكم",
        "日本語",
    ] {
        let v = e.embed(text);
        let norm: f32 = v.as_slice().iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{text:?}: norm {norm}");
        assert!(v.as_slice().iter().all(|x| x.is_finite()));
    }
}
