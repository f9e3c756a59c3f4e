//! Realistic message bodies: tweets from 26 real crises (CrisisLex T26, MIT licence).
//! A 2,000-tweet sample is committed in `data/`; `--dataset` takes the full CSV too, as
//! long as it has a `tweet_text` column.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The committed sample, used when `--dataset` is not given.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/crisislex_t26_sample.csv")
}

/// Every non-empty `tweet_text` in the CSV at `path`.
pub fn load(path: &Path) -> anyhow::Result<Vec<String>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let column = reader
        .headers()?
        .iter()
        .position(|h| h == "tweet_text")
        .context("the dataset has no tweet_text column")?;
    let mut texts = Vec::new();
    for record in reader.records() {
        let record = record?;
        if let Some(text) = record.get(column).filter(|t| !t.trim().is_empty()) {
            texts.push(text.to_string());
        }
    }
    anyhow::ensure!(!texts.is_empty(), "{} holds no tweets", path.display());
    Ok(texts)
}
