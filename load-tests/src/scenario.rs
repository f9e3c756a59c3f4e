//! Surge scenarios: labelled messages (`scenarios/*.tsv`, columns `category`, `lang`,
//! `theme`, `text`) drawn in a realistic mix, each with a channel, a visibility and
//! an author. The same draw feeds the offline triage check (`surge --offline`) and the
//! run through a live pipeline, so both measure the same traffic.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What kind of message a row is; the mix and the expected handling follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    KeyQuestion,
    Venting,
    OutsideQuestion,
    NewsNoise,
    Support,
    HumanRequest,
    Sensitive,
    Spam,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::KeyQuestion,
        Category::Venting,
        Category::OutsideQuestion,
        Category::NewsNoise,
        Category::Support,
        Category::HumanRequest,
        Category::Sensitive,
        Category::Spam,
    ];

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::KeyQuestion => "key_question",
            Category::Venting => "venting",
            Category::OutsideQuestion => "outside_question",
            Category::NewsNoise => "news_noise",
            Category::Support => "support",
            Category::HumanRequest => "human_request",
            Category::Sensitive => "sensitive",
            Category::Spam => "spam",
        }
    }

    /// The share of a recall surge: 40 % key questions, 25 % public venting, 15 %
    /// questions outside the playbook, 8 % news and noise, 5 % support (requests for
    /// a human among them), 5 % sensitive, 2 % spam.
    pub fn share(self) -> f64 {
        match self {
            Category::KeyQuestion => 0.40,
            Category::Venting => 0.25,
            Category::OutsideQuestion => 0.15,
            Category::NewsNoise => 0.08,
            Category::Support => 0.03,
            Category::HumanRequest => 0.02,
            Category::Sensitive => 0.05,
            Category::Spam => 0.02,
        }
    }

    /// The share of the category written in private (the rest is public).
    pub fn private_share(self) -> f64 {
        match self {
            Category::KeyQuestion => 0.5,
            Category::Venting | Category::NewsNoise => 0.0,
            Category::OutsideQuestion => 0.35,
            Category::Support | Category::HumanRequest => 1.0,
            Category::Sensitive => 0.5,
            Category::Spam => 0.5,
        }
    }

    /// Whether the message must reach a person.
    pub fn needs_a_human(self) -> bool {
        matches!(
            self,
            Category::Sensitive | Category::Support | Category::HumanRequest
        )
    }
}

/// One labelled row of a scenario file.
#[derive(Clone, Debug)]
pub struct Row {
    pub category: Category,
    pub lang: String,
    pub theme: String,
    pub text: String,
}

/// A drawn message: a row, and who wrote it where.
#[derive(Clone, Debug)]
pub struct Drawn {
    pub row: Row,
    pub private: bool,
    pub channel: &'static str,
    pub author: String,
    pub followers: u64,
}

pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/recall_surge.tsv")
}

pub fn load(path: &Path) -> anyhow::Result<Vec<Row>> {
    let body =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&body).with_context(|| format!("parsing {}", path.display()))
}

pub fn parse(body: &str) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (n, line) in body.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [category, lang, theme, text] = fields[..] else {
            bail!("line {}: expected 4 tab-separated fields", n + 1);
        };
        let category = Category::parse(category)
            .with_context(|| format!("line {}: unknown category {category}", n + 1))?;
        rows.push(Row {
            category,
            lang: lang.to_string(),
            theme: theme.to_string(),
            text: text.to_string(),
        });
    }
    for category in Category::ALL {
        if !rows.iter().any(|r| r.category == category) {
            bail!("no row of category {}", category.as_str());
        }
    }
    Ok(rows)
}

/// Share of authors above the playbook's influencer threshold.
const INFLUENCER_SHARE: f64 = 0.01;

/// Draws `count` messages in the surge mix, deterministically for a seed. Rows repeat
/// (people copy what others post), each message has its own author.
pub fn draw(rows: &[Row], count: usize, seed: u64) -> Vec<Drawn> {
    let mut rng = StdRng::seed_from_u64(seed);
    let by_category: Vec<(Category, Vec<&Row>)> = Category::ALL
        .into_iter()
        .map(|c| (c, rows.iter().filter(|r| r.category == c).collect()))
        .collect();
    let mut drawn = Vec::with_capacity(count);
    for i in 0..count {
        let mut pick = rng.random::<f64>();
        let (category, candidates) = by_category
            .iter()
            .find(|(c, _)| {
                pick -= c.share();
                pick < 0.0
            })
            .unwrap_or(&by_category[0]);
        let row = candidates[rng.random_range(0..candidates.len())].clone();
        let private = rng.random::<f64>() < category.private_share();
        // Public posts on Facebook and Instagram: X's default reply budget (0.15/s)
        // would keep a few thousand public answers waiting far longer than a run.
        let channel = if private {
            ["messenger", "whatsapp", "telegram", "instagram"][i % 4]
        } else {
            ["facebook", "instagram"][i % 2]
        };
        let followers = if rng.random::<f64>() < INFLUENCER_SHARE {
            120_000
        } else {
            rng.random_range(0..2_000)
        };
        drawn.push(Drawn {
            row,
            private,
            channel,
            author: format!("surge-author-{i}"),
            followers,
        });
    }
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_scenario_files_parse_with_every_category() {
        for name in ["recall_surge.tsv", "recall_surge_heldout.tsv"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios")
                .join(name);
            let rows = load(&path).unwrap();
            assert!(rows.len() > 300, "{name}: {}", rows.len());
        }
    }

    #[test]
    fn the_draw_follows_the_mix() {
        let rows = load(&default_path()).unwrap();
        let drawn = draw(&rows, 20_000, 7);
        let share = |c: Category| {
            drawn.iter().filter(|d| d.row.category == c).count() as f64 / drawn.len() as f64
        };
        for category in Category::ALL {
            assert!(
                (share(category) - category.share()).abs() < 0.01,
                "{category:?}: {}",
                share(category)
            );
        }
        let again = draw(&rows, 100, 7);
        assert_eq!(again[42].row.text, drawn[42].row.text);
        assert!(
            drawn
                .iter()
                .all(|d| d.row.category != Category::Venting || !d.private)
        );
    }
}
