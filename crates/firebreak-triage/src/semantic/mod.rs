//! Meaning, not phrasing: trained heads over the multilingual sentence encoder
//! (`firebreak-encoder`).
//!
//! - [`head`]: a logistic head with a calibrated threshold;
//! - [`train`]: how the committed heads (`models/semantic.json`) were made;
//! - [`data`]: the labelled rows, train and held-out;
//! - [`eval`]: the held-out report behind `firebreak eval`;
//! - [`third_party`]: openly licensed suites that train the risk heads on half their templates.
//!
//! A risk head that fires gives its probability and the nearest training example of
//! its kind as evidence, so a moderator sees why.

pub mod data;
pub mod eval;
pub mod exact;
pub mod first_line;
pub mod head;
pub mod intent;
pub mod neighbours;
mod tensor;
pub mod third_party;
pub mod third_party_intents;
pub mod train;

use std::path::Path;
use std::sync::OnceLock;

use firebreak_encoder::{Embedding, Encoder};

pub use head::{Features, Head};
pub use train::ModelFile;

const BUILTIN: &str = include_str!("../../models/semantic.json");

/// The trained heads, and the training examples they cite as evidence.
#[derive(Debug)]
pub struct SemanticModel {
    encoder: &'static Encoder,
    file: ModelFile,
    examples: OnceLock<Vec<(usize, String, Embedding)>>,
}

/// One risk head's verdict on a message.
#[derive(Clone, Debug)]
pub struct Risk {
    pub kind: &'static str,
    pub probability: f32,
    pub threshold: f32,
    /// See [`Head::urgent_threshold`].
    pub urgent_threshold: Option<f32>,
}

impl Risk {
    pub fn fired(&self) -> bool {
        self.probability >= self.threshold
    }

    /// Whether the model alone is sure enough for the kind's own (P1) priority.
    pub fn urgent(&self) -> bool {
        self.urgent_threshold.is_none_or(|t| self.probability >= t)
    }
}

impl SemanticModel {
    /// The committed heads on the compiled-in encoder, loaded once per process.
    pub fn builtin() -> &'static SemanticModel {
        static MODEL: OnceLock<SemanticModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            let mut file: ModelFile =
                serde_json::from_str(BUILTIN).expect("models/semantic.json parses");
            file.heads.iter_mut().for_each(Head::decode);
            file.first_line.iter_mut().for_each(Head::decode);
            file.intents.iter_mut().for_each(Head::decode);
            file.sentiment.decode();
            SemanticModel {
                encoder: Encoder::shared(),
                file,
                examples: OnceLock::new(),
            }
        })
    }

    pub fn encoder(&self) -> &'static Encoder {
        self.encoder
    }

    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    pub fn embed(&self, text: &str) -> Embedding {
        embed_clean(self.encoder, text)
    }

    /// Every risk kind's probability for a message (softmax over `none` and the kinds).
    pub fn risks(&self, features: &Features<'_>) -> Vec<Risk> {
        let mut probabilities: Vec<f32> =
            self.file.heads.iter().map(|h| h.logit(features)).collect();
        head::softmax(&mut probabilities);
        self.file
            .heads
            .iter()
            .zip(probabilities)
            .filter_map(|(h, probability)| {
                Some(Risk {
                    kind: static_kind(&h.kind)?,
                    probability,
                    threshold: h.threshold,
                    urgent_threshold: h.urgent_threshold,
                })
            })
            .collect()
    }

    /// The first-line head `kind` (`human_request` or `needs_human`): its probability
    /// and threshold, or `None` when the model file has no such head.
    pub fn first_line(
        &self,
        kind: &str,
        embedding: &Embedding,
        raw: &str,
        normalized: &str,
    ) -> Option<(f32, f32)> {
        let head = self.file.first_line.iter().find(|h| h.kind == kind)?;
        let marked = first_line::marked_text(raw, normalized);
        let features = Features::new(embedding.as_slice(), &marked);
        Some((head.probability(&features), head.threshold))
    }

    /// The shipped key-question intents' verdicts (softmax against `other`); empty when
    /// the model file has no intent heads.
    pub fn intents(&self, features: &Features<'_>) -> Vec<(&str, intent::IntentScore)> {
        let mut probabilities: Vec<f32> = self
            .file
            .intents
            .iter()
            .map(|h| h.logit(features))
            .collect();
        head::softmax(&mut probabilities);
        self.file
            .intents
            .iter()
            .zip(probabilities)
            .filter(|(h, _)| h.kind != intent::OTHER)
            .map(|(h, probability)| {
                (
                    h.kind.as_str(),
                    intent::IntentScore {
                        probability,
                        threshold: h.threshold,
                    },
                )
            })
            .collect()
    }

    /// Sentiment in [-1, 1] from the sentiment head.
    pub fn sentiment(&self, features: &Features<'_>) -> f64 {
        f64::from(2.0 * self.file.sentiment.probability(features) - 1.0)
    }

    /// The training example of `kind` nearest to the embedding, and its cosine.
    pub fn nearest_example(&self, kind: &str, embedding: &Embedding) -> Option<(&str, f32)> {
        let head = self.file.heads.iter().position(|h| h.kind == kind)?;
        self.examples()
            .iter()
            .filter(|(h, _, _)| *h == head)
            .map(|(_, text, e)| (text.as_str(), e.cosine(embedding)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    fn examples(&self) -> &[(usize, String, Embedding)] {
        self.examples.get_or_init(|| {
            data::train_rows()
                .into_iter()
                .filter_map(|row| {
                    let head = self.file.heads.iter().position(|h| h.kind == row.label)?;
                    let embedding = self.encoder.embed(&row.text);
                    Some((head, row.text, embedding))
                })
                .collect()
        })
    }
}

/// Embeds `text` with runs of one repeated symbol cut to one ("???" → "?", "!!!!" → "!",
/// "😡😡😡" → "😡"): each piece adds its own vector to the sum, so a run of question
/// marks would weigh more than the question itself.
pub fn embed_clean(encoder: &Encoder, text: &str) -> Embedding {
    let mut clean = String::with_capacity(text.len());
    let mut previous = None;
    for c in text.chars() {
        if !c.is_alphanumeric() && !c.is_whitespace() && previous == Some(c) {
            continue;
        }
        clean.push(c);
        previous = Some(c);
    }
    encoder.embed(&clean)
}

/// Flag kinds as `'static` strings, so decisions need not allocate for them.
fn static_kind(kind: &str) -> Option<&'static str> {
    use crate::detectors::kind::*;
    [SELF_HARM, THREAT, HATE, HEALTH_INCIDENT, LEGAL, PRESS]
        .into_iter()
        .find(|k| *k == kind)
}

/// Retrain the heads and write them to `out` as JSON; returns the training report.
/// With `datasets`, the training half of the openly licensed third-party suites
/// ([`third_party`]) trains the risk heads too, and third-party customer-service
/// questions ([`third_party_intents`]) the intent head, as the committed heads were.
pub fn train_to_file(out: &Path, datasets: Option<&Path>) -> Result<String, std::io::Error> {
    let (extra, intent_extra) = match datasets {
        Some(dir) => (
            third_party::rows(dir, third_party::Half::Train).map_err(std::io::Error::other)?,
            third_party_intents::rows(dir).map_err(std::io::Error::other)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let (model, report) = train::train(Encoder::shared(), &extra, &intent_extra);
    let json = serde_json::to_string(&model).map_err(std::io::Error::other)?;
    std::fs::write(out, json + "\n")?;
    Ok(report)
}
