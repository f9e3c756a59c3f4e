//! Training and held-out evaluation of the hostility model.
//!
//! Sources (see DATA.md): Davidson et al. (EN tweets; hostile = hate or offensive) and
//! MLMA (FR tweets; hostile = any label but plain `normal`). A deterministic hash of the
//! normalised text puts 20 % of the examples in a held-out split; training never sees
//! them, and duplicates of a held-out text are held out too.

use std::fmt;
use std::path::Path;

use super::{
    CHAR_MAX_N, CHAR_MIN_N, DEFAULT_BITS, HostilityModel, ModelError, feature_norm, sigmoid,
};
use crate::features::{fnv1a, for_each_feature};
use crate::normalize::normalize_leet;

#[derive(Clone, Debug, PartialEq)]
pub struct LabelledText {
    pub text: String,
    pub hostile: bool,
    /// Which data set it came from, for per-source figures.
    pub source: String,
}

/// Chosen once; changing it would reshuffle the held-out split.
const SPLIT_SEED: u64 = 0x05ee_d0f5_9117;

/// True for the fifth of texts reserved for evaluation.
pub fn is_held_out(text: &str) -> bool {
    fnv1a(SPLIT_SEED, normalize_leet(text).as_bytes()).is_multiple_of(5)
}

/// How a data set encodes hostility, with the column holding the label.
enum LabelFormat {
    /// `class`: 0 hate, 1 offensive, 2 neither.
    Davidson { class: usize },
    /// `sentiment`: `normal`, or one or more hostile labels joined by `_`.
    Mlma { sentiment: usize },
}

impl LabelFormat {
    fn hostile(&self, record: &csv::StringRecord) -> Option<bool> {
        match *self {
            LabelFormat::Davidson { class } => record.get(class).map(|c| c.trim() != "2"),
            LabelFormat::Mlma { sentiment } => record.get(sentiment).map(|s| s.trim() != "normal"),
        }
    }

    fn source(&self) -> &'static str {
        match self {
            LabelFormat::Davidson { .. } => "davidson_en",
            LabelFormat::Mlma { .. } => "mlma_fr",
        }
    }
}

/// Reads one labelled CSV, recognising its format by its header.
pub fn load_csv(path: &Path) -> Result<Vec<LabelledText>, ModelError> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| ModelError::Dataset(format!("{}: {e}", path.display())))?;
    let headers = reader
        .headers()
        .map_err(|e| ModelError::Dataset(e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (text_col, format) = match (column("tweet"), column("class"), column("sentiment")) {
        (Some(text), Some(class), _) => (text, LabelFormat::Davidson { class }),
        (Some(text), None, Some(sentiment)) => (text, LabelFormat::Mlma { sentiment }),
        _ => {
            return Err(ModelError::Dataset(format!(
                "{}: expected a `tweet` column with `class` (Davidson) or `sentiment` (MLMA)",
                path.display()
            )));
        }
    };
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ModelError::Dataset(format!("{}: {e}", path.display())))?;
        if let (Some(text), Some(hostile)) = (record.get(text_col), format.hostile(&record)) {
            out.push(LabelledText {
                text: text.to_string(),
                hostile,
                source: format.source().to_string(),
            });
        }
    }
    Ok(out)
}

/// Loads both data sets from the shared `datasets/` folder.
pub fn load_datasets(dir: &Path) -> Result<Vec<LabelledText>, ModelError> {
    let mut all = load_csv(&dir.join("davidson_hate_offensive_en/labeled_data.csv"))?;
    all.extend(load_csv(&dir.join("mlma_hostility_fr/fr_dataset.csv"))?);
    Ok(all)
}

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub bits: u8,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            bits: DEFAULT_BITS,
            epochs: 6,
            learning_rate: 0.4,
            l2: 1e-6,
        }
    }
}

/// Stochastic gradient descent on the log loss, with classes weighted so the rarer one
/// counts as much as the common one (Davidson is ~83 % hostile).
pub fn train(examples: &[LabelledText], config: &TrainConfig) -> HostilityModel {
    let mask = (1u64 << config.bits) - 1;
    let encoded: Vec<(Vec<u32>, f32)> = examples
        .iter()
        .map(|e| {
            let mut features = Vec::new();
            for_each_feature(&normalize_leet(&e.text), CHAR_MIN_N, CHAR_MAX_N, |h| {
                features.push((h & mask) as u32)
            });
            (features, if e.hostile { 1.0 } else { 0.0 })
        })
        .collect();
    let positives = encoded.iter().filter(|(_, y)| *y > 0.5).count().max(1) as f32;
    let negatives = (encoded.len() as f32 - positives).max(1.0);
    let total = encoded.len() as f32;
    let class_weight = |y: f32| {
        if y > 0.5 {
            total / (2.0 * positives)
        } else {
            total / (2.0 * negatives)
        }
    };

    let mut weights = vec![0.0_f32; 1 << config.bits];
    let mut bias = 0.0_f32;
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for epoch in 0..config.epochs {
        // Deterministic Fisher-Yates with xorshift: the same data gives the same model.
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let rate = config.learning_rate / (1.0 + epoch as f32);
        for &index in &order {
            let (features, label) = &encoded[index];
            let norm = feature_norm(features.len() as u32);
            let logit = bias + norm * features.iter().map(|&f| weights[f as usize]).sum::<f32>();
            let gradient = (sigmoid(logit) - label) * class_weight(*label);
            for &f in features {
                let w = &mut weights[f as usize];
                *w -= rate * (gradient * norm + config.l2 * *w);
            }
            bias -= rate * gradient * 0.1;
        }
    }
    HostilityModel::from_weights(config.bits, &weights, bias)
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    pub rows: Vec<ClassMetrics>,
    pub examples: usize,
}

impl EvalReport {
    pub fn f1_of(&self, class: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.class == class).map(|r| r.f1)
    }
}

pub fn metrics(class: &str, true_pos: usize, false_pos: usize, false_neg: usize) -> ClassMetrics {
    let ratio = |a: usize, b: usize| {
        if a + b == 0 {
            0.0
        } else {
            a as f64 / (a + b) as f64
        }
    };
    let precision = ratio(true_pos, false_pos);
    let recall = ratio(true_pos, false_neg);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    ClassMetrics {
        class: class.to_string(),
        precision,
        recall,
        f1,
        support: true_pos + false_neg,
    }
}

/// Precision, recall and F1 per class at probability 0.5, overall and per source.
pub fn evaluate(model: &HostilityModel, examples: &[LabelledText]) -> EvalReport {
    let predictions: Vec<(bool, bool, &str)> = examples
        .iter()
        .map(|e| {
            (
                model.predict(&normalize_leet(&e.text)) >= 0.5,
                e.hostile,
                e.source.as_str(),
            )
        })
        .collect();
    let mut sources: Vec<&str> = predictions.iter().map(|p| p.2).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut rows = Vec::new();
    let scopes = std::iter::once(None).chain(sources.into_iter().map(Some));
    for scope in scopes {
        let selected: Vec<_> = predictions
            .iter()
            .filter(|p| scope.is_none_or(|s| p.2 == s))
            .collect();
        for (class, positive) in [("hostile", true), ("not_hostile", false)] {
            let tp = selected
                .iter()
                .filter(|p| p.0 == positive && p.1 == positive)
                .count();
            let fp = selected
                .iter()
                .filter(|p| p.0 == positive && p.1 != positive)
                .count();
            let fn_ = selected
                .iter()
                .filter(|p| p.0 != positive && p.1 == positive)
                .count();
            let name = match scope {
                None => class.to_string(),
                Some(source) => format!("{class} ({source})"),
            };
            rows.push(metrics(&name, tp, fp, fn_));
        }
    }
    EvalReport {
        rows,
        examples: examples.len(),
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>9} {:>7} {:>6} {:>8}",
            "class", "precision", "recall", "f1", "support"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "{:<28} {:>9.3} {:>7.3} {:>6.3} {:>8}",
                row.class, row.precision, row.recall, row.f1, row.support
            )?;
        }
        write!(f, "held-out examples: {}", self.examples)
    }
}

#[derive(Clone, Debug)]
pub struct TrainReport {
    pub train_examples: usize,
    pub held_out: EvalReport,
    pub model_bytes: usize,
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "trained on {} examples; model file {} bytes",
            self.train_examples, self.model_bytes
        )?;
        write!(f, "{}", self.held_out)
    }
}

/// Splits labelled data into (training, held-out) by the text hash.
pub fn split(examples: Vec<LabelledText>) -> (Vec<LabelledText>, Vec<LabelledText>) {
    examples.into_iter().partition(|e| !is_held_out(&e.text))
}

/// Trains on the shared data sets, writes the model to `out` and evaluates it on the
/// held-out split.
pub fn train_from_datasets(dir: &Path, out: &Path) -> Result<TrainReport, ModelError> {
    let (training, held_out) = split(load_datasets(dir)?);
    let model = train(&training, &TrainConfig::default());
    model.save(out)?;
    Ok(TrainReport {
        train_examples: training.len(),
        held_out: evaluate(&model, &held_out),
        model_bytes: model.to_bytes().len(),
    })
}

/// Evaluates a model on the held-out split of the shared data sets.
pub fn eval_held_out(model: &HostilityModel, dir: &Path) -> Result<EvalReport, ModelError> {
    let (_, held_out) = split(load_datasets(dir)?);
    Ok(evaluate(model, &held_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, hostile: bool) -> LabelledText {
        LabelledText {
            text: text.into(),
            hostile,
            source: "test".into(),
        }
    }

    #[test]
    fn a_tiny_model_learns_a_separable_sample() {
        let mut data = Vec::new();
        for i in 0..40 {
            data.push(sample(&format!("you stupid idiot number {i}"), true));
            data.push(sample(&format!("thanks for the parcel number {i}"), false));
        }
        let config = TrainConfig {
            bits: 12,
            epochs: 5,
            ..TrainConfig::default()
        };
        let model = train(&data, &config);
        let report = evaluate(
            &model,
            &[sample("what an idiot", true), sample("thanks a lot", false)],
        );
        assert_eq!(report.f1_of("hostile"), Some(1.0), "{report}");
    }

    #[test]
    fn the_split_is_deterministic_and_holds_out_about_a_fifth() {
        let texts: Vec<String> = (0..2000).map(|i| format!("message {i}")).collect();
        let held = texts.iter().filter(|t| is_held_out(t)).count();
        assert!((300..500).contains(&held), "{held}");
        assert!(texts.iter().all(|t| is_held_out(t) == is_held_out(t)));
    }
}
