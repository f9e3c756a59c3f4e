//! The second stage of risk detection: the exact encoder network and a small neural
//! head, for the messages the fast path finds plausibly self-harm or a threat.
//!
//! The fast path's distilled embedding costs ~30 µs and blurs meanings that the exact
//! network keeps apart (in an offline comparison on the training split, the same
//! classifier found 0.84 of self-harm and 0.73 of threats on exact embeddings against
//! 0.65 and 0.43 on fast ones, at equal precision). The exact network costs 1–6 ms, so
//! it only reads messages whose fast-path probability reaches [`GATE_SHARE`] of the
//! fast threshold: a few percent of everyday traffic. For those, its verdict decides
//! P1.
//!
//! The head (`models/exact_heads.json`) is trained by `scripts/train_exact_heads.py` on
//! the training split's exact embeddings: one hidden ReLU layer, softmax over `none`
//! and the risk kinds, thresholds calibrated out of fold.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

const BUILTIN: &str = include_str!("../../models/exact_heads.json");

/// Share of a fast-path threshold at which a kind is read again by the exact network,
/// whose verdict then decides. Chosen on the held-out split (training/heldout): at 0.35
/// the exact head alone raised P1 on short everyday messages ("love it, exactly what I
/// wanted"); at 0.5 it found no more self-harm than the fast path.
pub const GATE_SHARE: f32 = 0.4;

/// The gate when the urgent pre-screen's n-gram model, a second opinion trained apart
/// from the sentence encoder, also finds the message urgent: attempts in progress and
/// methods ("my heart is racing, i think the 40 tablets are kicking in") often score
/// a third of the fast threshold, and were acknowledged like chatter. Compared on the
/// development sets at 0.4 (off), 0.3, 0.2 and 0.1: at 0.2, 5 more of the held-out
/// split's 96 self-harm messages at P1 and 1 more threat, for 5 more benign messages
/// at P1 over the three development sets (1,648 benign rows); 0.1 added nothing more.
/// Applied to messages of at most [`FOCUS_CHARS`]: on every message it cost a fifth of
/// the triage bench's throughput for no development-set recall (README).
pub const ASSISTED_GATE_SHARE: f32 = 0.2;

/// Messages up to this many characters are read whole by the second stage; longer
/// ones through their most alarming sentence, itself cut to `FOCUS_MAX_CHARS`.
pub const FOCUS_CHARS: usize = 160;
const FOCUS_MAX_CHARS: usize = 240;
/// A sentence shorter than this is read with the one after it ("Ok." "Bye.").
const SHORTEST_SENTENCE: usize = 24;

/// The part of `text` the second stage reads: the whole of a short message, else the
/// sentence that `alarm` (the fast path's probability over its threshold) scores
/// highest; `None` when no sentence of a long message reaches [`GATE_SHARE`] on its own:
/// the whole message's alarm was then spread thin over everyday sentences.
pub fn focus(text: &str, alarm: impl Fn(&str) -> f32) -> Option<&str> {
    if text.chars().count() <= FOCUS_CHARS {
        return Some(text);
    }
    let (score, best) = sentences(text)
        .into_iter()
        .map(|s| (alarm(s), s))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    if score < GATE_SHARE {
        return None;
    }
    Some(match best.char_indices().nth(FOCUS_MAX_CHARS) {
        Some((end, _)) => &best[..end],
        None => best,
    })
}

/// Sentences of `text`, split after `.`, `!`, `?`, `…` and line breaks, short ones
/// joined to the next.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | '…' | '\n')
            && chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        let end = i + c.len_utf8();
        if ends && text[start..end].trim().chars().count() >= SHORTEST_SENTENCE {
            out.push(text[start..end].trim());
            start = end;
        }
    }
    if !text[start..].trim().is_empty() {
        out.push(text[start..].trim());
    }
    out
}

#[derive(Deserialize)]
struct File {
    kinds: Vec<String>,
    input: usize,
    hidden: usize,
    w1: String,
    b1: String,
    w2: String,
    b2: String,
    thresholds: BTreeMap<String, f32>,
    calibration: BTreeMap<String, String>,
}

/// The second-stage head, decoded once per process.
#[derive(Debug)]
pub struct ExactHead {
    kinds: Vec<String>,
    input: usize,
    hidden: usize,
    /// input × hidden, row-major.
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// hidden × kinds, row-major.
    w2: Vec<f32>,
    b2: Vec<f32>,
    thresholds: BTreeMap<String, f32>,
    calibration: BTreeMap<String, String>,
}

/// The second stage's verdict on one kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExactVerdict {
    pub probability: f32,
    pub threshold: f32,
}

impl ExactVerdict {
    pub fn fired(&self) -> bool {
        self.probability >= self.threshold
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExactHeadError {
    #[error("exact head file does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("exact head tensor {name}: {reason}")]
    Tensor { name: &'static str, reason: String },
}

impl ExactHead {
    /// The committed head.
    pub fn builtin() -> &'static ExactHead {
        static HEAD: OnceLock<ExactHead> = OnceLock::new();
        HEAD.get_or_init(|| ExactHead::parse(BUILTIN).expect("models/exact_heads.json loads"))
    }

    pub fn parse(json: &str) -> Result<ExactHead, ExactHeadError> {
        let file: File = serde_json::from_str(json)?;
        let kinds = file.kinds.len();
        let tensor = |name: &'static str, b64: &str, len: usize| {
            super::tensor::floats(b64, len)
                .map_err(|reason| ExactHeadError::Tensor { name, reason })
        };
        Ok(ExactHead {
            w1: tensor("w1", &file.w1, file.input * file.hidden)?,
            b1: tensor("b1", &file.b1, file.hidden)?,
            w2: tensor("w2", &file.w2, file.hidden * kinds)?,
            b2: tensor("b2", &file.b2, kinds)?,
            kinds: file.kinds,
            input: file.input,
            hidden: file.hidden,
            thresholds: file.thresholds,
            calibration: file.calibration,
        })
    }

    /// The kinds this stage decides (those with a calibrated threshold).
    pub fn decides(&self, kind: &str) -> bool {
        self.thresholds.contains_key(kind)
    }

    /// How a kind's threshold was calibrated, for the reports.
    pub fn calibration(&self, kind: &str) -> Option<&str> {
        self.calibration.get(kind).map(String::as_str)
    }

    /// Softmax probabilities over the head's kinds for an exact embedding.
    pub fn probabilities(&self, embedding: &[f32]) -> Vec<f32> {
        let mut hidden = self.b1.clone();
        for (x, row) in embedding
            .iter()
            .take(self.input)
            .zip(self.w1.chunks_exact(self.hidden))
        {
            for (h, w) in hidden.iter_mut().zip(row) {
                *h += x * w;
            }
        }
        let mut out = self.b2.clone();
        for (h, row) in hidden.iter().zip(self.w2.chunks_exact(self.kinds.len())) {
            if *h > 0.0 {
                for (o, w) in out.iter_mut().zip(row) {
                    *o += h * w;
                }
            }
        }
        super::head::softmax(&mut out);
        out
    }

    /// The verdicts on the kinds this stage decides.
    pub fn verdicts(&self, embedding: &[f32]) -> Vec<(&str, ExactVerdict)> {
        let probabilities = self.probabilities(embedding);
        self.kinds
            .iter()
            .zip(probabilities)
            .filter_map(|(kind, probability)| {
                let threshold = *self.thresholds.get(kind)?;
                Some((
                    kind.as_str(),
                    ExactVerdict {
                        probability,
                        threshold,
                    },
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use firebreak_encoder::Encoder;

    fn verdict(text: &str, kind: &str) -> ExactVerdict {
        let embedding = Encoder::shared().embed_exact(text);
        ExactHead::builtin()
            .verdicts(embedding.as_slice())
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v)
            .expect("kind decided")
    }

    #[test]
    fn the_committed_head_loads_with_consistent_shapes() {
        let head = ExactHead::builtin();
        assert_eq!(head.input, firebreak_encoder::DIM);
        assert!(head.decides("self_harm") && head.decides("threat"));
        let p = head.probabilities(&vec![0.0; head.input]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn it_reads_meaning_the_way_a_moderator_would() {
        assert!(verdict("I took all my pills an hour ago", "self_harm").fired());
        assert!(verdict("je vais mettre le feu à votre agence", "threat").fired());
        assert!(!verdict("this burger is killer, best lunch ever", "threat").fired());
        assert!(!verdict("je meurs de rire avec votre pub", "self_harm").fired());
    }

    #[test]
    fn a_long_message_is_read_through_its_most_alarming_sentence() {
        let text = "Bonjour, ça fait trois semaines que j'attends ma commande et toujours rien. \
                    Le suivi ne bouge plus depuis le dépôt, personne ne répond au téléphone. \
                    Si je ne suis pas remboursé vendredi je viens avec une batte.";
        let focus = focus(text, |s| if s.contains("batte") { 1.0 } else { 0.1 });
        assert_eq!(
            focus,
            Some("Si je ne suis pas remboursé vendredi je viens avec une batte.")
        );
        // No sentence alarming on its own: nothing for the second stage to read.
        assert_eq!(super::focus(text, |_| 0.2), None);
        let short = "je viens avec une batte";
        assert_eq!(super::focus(short, |_| 0.0), Some(short));
        let unbroken = "a".repeat(400);
        assert_eq!(
            super::focus(&unbroken, |_| 1.0).map(str::len),
            Some(FOCUS_MAX_CHARS)
        );
    }

    #[test]
    fn a_truncated_tensor_is_a_clear_error() {
        let mut json: serde_json::Value = serde_json::from_str(BUILTIN).unwrap();
        json["b2"] = serde_json::Value::String(STANDARD.encode([0u8; 8]));
        let error = ExactHead::parse(&json.to_string()).unwrap_err();
        assert!(error.to_string().contains("b2"), "{error}");
    }
}
