//! The hostility model: logistic regression over hashed word, word-bigram and
//! character n-gram features of leetspeak-folded, normalised text.
//!
//! Weights are stored quantised to `i8` with one `f32` scale, which keeps the committed
//! file at 256 KiB for 2^18 buckets while losing nothing measurable in F1.

pub mod train;

use crate::features::for_each_feature;

/// 2^18 buckets: few collisions for tweet-sized vocabularies, small file.
pub const DEFAULT_BITS: u8 = 18;
pub const CHAR_MIN_N: usize = 3;
pub const CHAR_MAX_N: usize = 5;

const MAGIC: &[u8; 4] = b"FBHM";
const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 1 + 4 + 4;

/// The model committed with the crate.
static BUILTIN: &[u8] = include_bytes!("../../models/hostility.bin");

#[derive(Clone, Debug, PartialEq)]
pub struct HostilityModel {
    bits: u8,
    scale: f32,
    bias: f32,
    weights: Vec<i8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a hostility model file (bad magic or version)")]
    BadHeader,
    #[error("model file is truncated: expected {expected} bytes, found {found}")]
    Truncated { expected: usize, found: usize },
    #[error("unsupported bucket count 2^{0}")]
    BadBits(u8),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("dataset: {0}")]
    Dataset(String),
}

impl HostilityModel {
    /// Quantises trained `f32` weights.
    pub(crate) fn from_weights(bits: u8, weights: &[f32], bias: f32) -> HostilityModel {
        let max = weights.iter().fold(0.0_f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        HostilityModel {
            bits,
            scale,
            bias,
            weights: weights
                .iter()
                .map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8)
                .collect(),
        }
    }

    /// The model shipped in the binary.
    pub fn builtin() -> Result<HostilityModel, ModelError> {
        HostilityModel::from_bytes(BUILTIN)
    }

    /// Probability in [0, 1] that leetspeak-folded normalised text is hostile.
    pub fn predict(&self, folded: &str) -> f64 {
        if folded.is_empty() {
            return 0.0;
        }
        let mask = (1u64 << self.bits) - 1;
        let mut sum = 0i32;
        let mut count = 0u32;
        for_each_feature(folded, CHAR_MIN_N, CHAR_MAX_N, |hash| {
            sum += i32::from(self.weights[(hash & mask) as usize]);
            count += 1;
        });
        let logit = self.bias + self.scale * sum as f32 * feature_norm(count);
        f64::from(sigmoid(logit))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.weights.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.bits);
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        out.extend(self.weights.iter().map(|w| *w as u8));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<HostilityModel, ModelError> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC || bytes[4] != FORMAT_VERSION {
            return Err(ModelError::BadHeader);
        }
        let bits = bytes[5];
        if !(8..=24).contains(&bits) {
            return Err(ModelError::BadBits(bits));
        }
        let expected = HEADER_LEN + (1usize << bits);
        if bytes.len() != expected {
            return Err(ModelError::Truncated {
                expected,
                found: bytes.len(),
            });
        }
        let float = |at: usize| {
            f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        Ok(HostilityModel {
            bits,
            scale: float(6),
            bias: float(10),
            weights: bytes[HEADER_LEN..].iter().map(|b| *b as i8).collect(),
        })
    }

    pub fn save(&self, path: &std::path::Path) -> Result<(), ModelError> {
        Ok(std::fs::write(path, self.to_bytes())?)
    }

    pub fn load(path: &std::path::Path) -> Result<HostilityModel, ModelError> {
        HostilityModel::from_bytes(&std::fs::read(path)?)
    }
}

/// Features are scaled by 1/sqrt(n) so long and short texts produce comparable logits.
pub(crate) fn feature_norm(count: u32) -> f32 {
    if count == 0 {
        0.0
    } else {
        1.0 / (count as f32).sqrt()
    }
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_corruption_is_refused() {
        let model = HostilityModel::from_weights(8, &[0.5; 256], -0.25);
        let bytes = model.to_bytes();
        assert_eq!(HostilityModel::from_bytes(&bytes).unwrap(), model);
        assert!(matches!(
            HostilityModel::from_bytes(&bytes[..100]),
            Err(ModelError::Truncated { .. })
        ));
        assert!(matches!(
            HostilityModel::from_bytes(b"nope"),
            Err(ModelError::BadHeader)
        ));
    }

    #[test]
    fn builtin_model_separates_insults_from_chatter() {
        let model = HostilityModel::builtin().unwrap();
        let hostile = model.predict(&crate::normalize::normalize_leet(
            "you are a bunch of stupid f*cking idiots",
        ));
        let calm = model.predict(&crate::normalize::normalize_leet(
            "when will my parcel arrive please",
        ));
        assert!(hostile > 0.5, "{hostile}");
        assert!(calm < 0.5, "{calm}");
        assert!(model.to_bytes().len() < 2 * 1024 * 1024);
    }
}
