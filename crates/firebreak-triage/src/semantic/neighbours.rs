//! The training rows nearest to a message in the exact network's space: a check on the
//! second stage's head before it asks P1 on its own.
//!
//! The exact head over-reads some everyday messages ("until what time are you open on
//! Saturdays": threat 0.98; "j'en ai par-dessus la tête": self-harm 1.00). Its errors
//! are those of a smooth boundary far from the data; the nearest known messages do not
//! share them: the ten rows nearest to "until what time are you open" are questions
//! about opening hours. So when the fast path did not flag a kind itself, the second
//! stage's P1 also needs [`Neighbours::min_share`] of the message's nearest training
//! rows to carry that kind, and the count is part of the evidence.
//!
//! The rows (`models/exact_neighbours.json`, built by `scripts/build_exact_neighbours.py`
//! from the training split only) are stored centred, projected on their first 128
//! principal components, unit length, as int8 with a scale per row: 1.4 MB of vectors
//! instead of 22 MB of float embeddings, with the same neighbours on the held-out split.

use std::sync::OnceLock;

use serde::Deserialize;

const BUILTIN: &str = include_str!("../../models/exact_neighbours.json");

#[derive(Deserialize)]
struct File {
    kinds: Vec<String>,
    input: usize,
    dims: usize,
    neighbours: usize,
    min_share: f32,
    mean: String,
    components: String,
    labels: String,
    scales: String,
    vectors: String,
}

/// The training rows, decoded once per process.
#[derive(Debug)]
pub struct Neighbours {
    kinds: Vec<String>,
    input: usize,
    dims: usize,
    neighbours: usize,
    min_share: f32,
    mean: Vec<f32>,
    /// dims × input, row-major.
    components: Vec<f32>,
    labels: Vec<u8>,
    scales: Vec<f32>,
    /// rows × dims, row-major.
    vectors: Vec<i8>,
}

/// How many of a message's nearest training rows carry a kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vote {
    pub agreeing: usize,
    pub of: usize,
    pub min_share: f32,
}

impl Vote {
    pub fn agrees(&self) -> bool {
        self.agreeing as f32 >= self.min_share * self.of as f32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NeighboursError {
    #[error("exact neighbours file does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("exact neighbours tensor {name}: {reason}")]
    Tensor { name: &'static str, reason: String },
}

impl Neighbours {
    /// The committed rows.
    pub fn builtin() -> &'static Neighbours {
        static ROWS: OnceLock<Neighbours> = OnceLock::new();
        ROWS.get_or_init(|| Neighbours::parse(BUILTIN).expect("models/exact_neighbours.json loads"))
    }

    pub fn parse(json: &str) -> Result<Neighbours, NeighboursError> {
        let file: File = serde_json::from_str(json)?;
        let tensor = |name: &'static str| move |reason| NeighboursError::Tensor { name, reason };
        let bytes =
            |name, b64: &str, len| super::tensor::bytes(b64, Some(len)).map_err(tensor(name));
        let floats = |name, b64: &str, len| super::tensor::floats(b64, len).map_err(tensor(name));
        let labels = super::tensor::bytes(&file.labels, None).map_err(tensor("labels"))?;
        let rows = labels.len();
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= file.kinds.len()) {
            return Err(NeighboursError::Tensor {
                name: "labels",
                reason: format!("label {bad} past the {} kinds", file.kinds.len()),
            });
        }
        if file.neighbours == 0 || file.neighbours > rows {
            return Err(NeighboursError::Tensor {
                name: "neighbours",
                reason: format!("{} neighbours of {rows} rows", file.neighbours),
            });
        }
        Ok(Neighbours {
            mean: floats("mean", &file.mean, file.input)?,
            components: floats("components", &file.components, file.dims * file.input)?,
            scales: floats("scales", &file.scales, rows)?,
            vectors: bytes("vectors", &file.vectors, rows * file.dims)?
                .into_iter()
                .map(|b| b as i8)
                .collect(),
            labels,
            kinds: file.kinds,
            input: file.input,
            dims: file.dims,
            neighbours: file.neighbours,
            min_share: file.min_share,
        })
    }

    /// Among the training rows nearest to an exact embedding, those labelled `kind`;
    /// `None` for a kind the rows do not know.
    pub fn vote(&self, embedding: &[f32], kind: &str) -> Option<Vote> {
        let label = self.kinds.iter().position(|k| k == kind)? as u8;
        let query = self.project(embedding);
        let mut nearest: Vec<(f32, u8)> = Vec::with_capacity(self.neighbours + 1);
        for ((row, &scale), &row_label) in self
            .vectors
            .chunks_exact(self.dims)
            .zip(&self.scales)
            .zip(&self.labels)
        {
            let similarity = dot_i8(&query, row) * scale;
            if nearest.len() < self.neighbours || similarity > nearest[nearest.len() - 1].0 {
                let at = nearest.partition_point(|(s, _)| *s >= similarity);
                nearest.insert(at, (similarity, row_label));
                nearest.truncate(self.neighbours);
            }
        }
        Some(Vote {
            agreeing: nearest.iter().filter(|(_, l)| *l == label).count(),
            of: nearest.len(),
            min_share: self.min_share,
        })
    }

    /// Centred, projected on the stored components, unit length.
    fn project(&self, embedding: &[f32]) -> Vec<f32> {
        let centred: Vec<f32> = embedding
            .iter()
            .zip(&self.mean)
            .take(self.input)
            .map(|(x, m)| x - m)
            .collect();
        let mut projected: Vec<f32> = self
            .components
            .chunks_exact(self.input)
            .map(|component| firebreak_encoder::dot(component, &centred))
            .collect();
        let norm = projected
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(1e-12);
        projected.iter_mut().for_each(|v| *v /= norm);
        projected
    }
}

/// `query · row` for an int8 row; compiled for AVX2 too and picked at run time.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "x86_64+sse4.1"))]
fn dot_i8(query: &[f32], row: &[i8]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    for (q, r) in query.chunks_exact(LANES).zip(row.chunks_exact(LANES)) {
        for i in 0..LANES {
            lanes[i] += q[i] * f32::from(r[i]);
        }
    }
    let tail = query.len() - query.len() % LANES;
    lanes.iter().sum::<f32>()
        + query[tail..]
            .iter()
            .zip(&row[tail..])
            .map(|(q, &r)| q * f32::from(r))
            .sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use firebreak_encoder::Encoder;

    fn vote(text: &str, kind: &str) -> Vote {
        let embedding = Encoder::shared().embed_exact(text);
        Neighbours::builtin()
            .vote(embedding.as_slice(), kind)
            .expect("kind known")
    }

    #[test]
    fn the_committed_rows_load() {
        let rows = Neighbours::builtin();
        assert_eq!(rows.input, firebreak_encoder::DIM);
        assert_eq!(rows.vectors.len(), rows.labels.len() * rows.dims);
        assert!(rows.vote(&[0.0; 512], "no such kind").is_none());
    }

    #[test]
    fn neighbours_tell_an_alarm_from_an_everyday_question() {
        assert!(vote("I took all my pills an hour ago", "self_harm").agrees());
        assert!(vote("je vais mettre le feu à votre agence", "threat").agrees());
        assert!(!vote("until what time are you open on Saturdays", "threat").agrees());
        assert!(!vote("mon proprio m'a jamais rendu ma caution", "self_harm").agrees());
    }

    #[test]
    fn a_truncated_tensor_is_a_clear_error() {
        let mut json: serde_json::Value = serde_json::from_str(BUILTIN).unwrap();
        json["scales"] = serde_json::Value::String(STANDARD.encode([0u8; 8]));
        let error = Neighbours::parse(&json.to_string()).unwrap_err();
        assert!(error.to_string().contains("scales"), "{error}");
    }
}
