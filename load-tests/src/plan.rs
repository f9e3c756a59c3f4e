//! Turns a surge scenario into a plan: every message with the second it is due, its
//! channel, visibility, author, thread and labelled text. Deterministic for a seed, so
//! two runs send the same surge.

use std::collections::BTreeMap;
use std::sync::Arc;

use firebreak_core::{Channel, MessageId, Visibility};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::scenario::{Category, Row};
use crate::surge_scenario::{Mix, SurgeScenario};

/// Why a message is in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fresh,
    /// The public follow-up of an author with a private sensitive message.
    SpillOver,
    /// The platform delivering an earlier message again (same external id).
    Retry,
}

#[derive(Clone, Debug)]
pub struct Planned {
    /// Seconds after the start of the surge.
    pub at: f64,
    pub channel: Channel,
    pub external_id: String,
    pub thread_id: String,
    /// Numeric, so it is also a valid Telegram user and chat id.
    pub author: u64,
    pub followers: u64,
    pub visibility: Visibility,
    pub category: Category,
    pub text: Arc<str>,
    pub kind: Kind,
}

impl Planned {
    pub fn id(&self) -> MessageId {
        MessageId::derive(self.channel, &self.external_id)
    }
}

/// The first author id, far from small numbers a platform fixture might use.
const AUTHOR_BASE: u64 = 7_000_000;
/// Share of authors above the playbook's influencer threshold.
const INFLUENCER_SHARE: f64 = 0.01;

/// Draws the messages of `scenario` from `rows`. `run` keeps the external ids of two
/// plans sent to the same cluster apart.
pub fn plan(scenario: &SurgeScenario, rows: &[Row], run: u32) -> Vec<Planned> {
    let mut draw = Drawer::new(&scenario.mix, rows, scenario.seed ^ u64::from(run), run);
    let total = scenario.duration_secs();
    let mut out = Vec::new();
    let mut t = 0.0;
    while let Some((phase, into)) = scenario.phase_at(t) {
        let rate = phase.rate_at(into);
        if rate <= 0.0 {
            t += 0.01;
            continue;
        }
        draw.one(t, &mut out);
        t += 1.0 / rate;
        if t >= total {
            break;
        }
    }
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

/// `count` messages all due at once: for the capacity run, which sends as fast as
/// ingest takes them.
pub fn burst(scenario: &SurgeScenario, rows: &[Row], run: u32, count: usize) -> Vec<Planned> {
    let mut draw = Drawer::new(&scenario.mix, rows, scenario.seed ^ u64::from(run), run);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        draw.fresh(0.0, &mut out);
    }
    out.truncate(count);
    out
}

/// `count` messages of one category, each from its own author and in its own private
/// thread on `channel`: a route on its own, for counting its Redis round trips.
pub fn route(
    rows: &[Row],
    category: Category,
    channel: Channel,
    run: u32,
    count: usize,
) -> Vec<Planned> {
    let candidates: Vec<&Row> = rows.iter().filter(|r| r.category == category).collect();
    (0..count)
        .map(|i| {
            let author = AUTHOR_BASE + u64::from(run) * 1_000_000 + i as u64;
            Planned {
                at: 0.0,
                channel,
                external_id: external_id(channel, run, i, author),
                thread_id: author.to_string(),
                author,
                followers: 10,
                visibility: Visibility::Private,
                category,
                text: candidates[i % candidates.len()].text.as_str().into(),
                kind: Kind::Fresh,
            }
        })
        .collect()
}

/// Telegram's external id is `chat:message`, as its webhook parser builds it.
fn external_id(channel: Channel, run: u32, i: usize, chat: u64) -> String {
    let n = u64::from(run) * 10_000_000 + i as u64;
    if channel == Channel::Telegram {
        format!("{chat}:{n}")
    } else {
        format!("surge{run}-{i}")
    }
}

struct Drawer<'a> {
    rng: StdRng,
    run: u32,
    next: usize,
    mix: &'a Mix,
    /// Rows by category, then by language.
    rows: BTreeMap<Category, BTreeMap<String, Vec<&'a Row>>>,
    /// Cumulative Zipf weights over the authors.
    authors: Vec<f64>,
    public: Vec<(Channel, f64)>,
    private: Vec<(Channel, f64)>,
    /// Where a spill-over happens: a channel both public and private.
    spill_channel: Channel,
}

fn weighted(channels: &BTreeMap<String, f64>) -> Vec<(Channel, f64)> {
    let total: f64 = channels.values().sum();
    let mut acc = 0.0;
    channels
        .iter()
        .filter_map(|(name, w)| {
            acc += w / total;
            Channel::parse(name).map(|c| (c, acc))
        })
        .collect()
}

impl<'a> Drawer<'a> {
    fn new(mix: &'a Mix, rows: &'a [Row], seed: u64, run: u32) -> Self {
        let mut by: BTreeMap<Category, BTreeMap<String, Vec<&Row>>> = BTreeMap::new();
        for row in rows {
            by.entry(row.category)
                .or_default()
                .entry(row.lang.clone())
                .or_default()
                .push(row);
        }
        let mut acc = 0.0;
        let mut authors: Vec<f64> = (1..=mix.authors)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(mix.zipf_exponent);
                acc
            })
            .collect();
        for w in &mut authors {
            *w /= acc;
        }
        let spill_channel = mix
            .private_channels
            .keys()
            .find(|c| mix.public_channels.contains_key(*c))
            .or(mix.private_channels.keys().next())
            .and_then(|c| Channel::parse(c))
            .unwrap_or(Channel::Instagram);
        Drawer {
            rng: StdRng::seed_from_u64(seed),
            run,
            next: 0,
            mix,
            rows: by,
            authors,
            public: weighted(&mix.public_channels),
            private: weighted(&mix.private_channels),
            spill_channel,
        }
    }

    fn pick_channel(&mut self, private: bool) -> Channel {
        let x = self.rng.random::<f64>();
        let list = if private { &self.private } else { &self.public };
        list.iter()
            .find(|(_, acc)| x < *acc)
            .or(list.last())
            .map(|(c, _)| *c)
            .unwrap_or(Channel::Web)
    }

    fn pick_author(&mut self) -> u64 {
        let x = self.rng.random::<f64>();
        let k = self.authors.partition_point(|acc| *acc < x);
        AUTHOR_BASE + k.min(self.authors.len() - 1) as u64
    }

    fn pick_category(&mut self) -> Category {
        let sensitive = self.mix.sensitive;
        let rest = 1.0 - Category::Sensitive.share();
        let mut x = self.rng.random::<f64>();
        for category in Category::ALL {
            let share = if category == Category::Sensitive {
                sensitive
            } else {
                category.share() * (1.0 - sensitive) / rest
            };
            x -= share;
            if x < 0.0 {
                return category;
            }
        }
        Category::KeyQuestion
    }

    fn pick_text(&mut self, category: Category) -> Arc<str> {
        let lang = if self.rng.random::<f64>() < self.mix.french {
            "fr"
        } else {
            "en"
        };
        let by_lang = &self.rows[&category];
        let rows = by_lang
            .get(lang)
            .or_else(|| by_lang.values().next())
            .expect("every category has rows");
        rows[self.rng.random_range(0..rows.len())]
            .text
            .as_str()
            .into()
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        at: f64,
        channel: Channel,
        visibility: Visibility,
        author: u64,
        category: Category,
        kind: Kind,
    ) -> Planned {
        let i = self.next;
        self.next += 1;
        let external_id = external_id(channel, self.run, i, author);
        // A private conversation is threaded by its author; each public comment is a
        // thread of its own, as top-level comments under a brand's post are.
        let thread_id = match visibility {
            Visibility::Private => author.to_string(),
            Visibility::Public => format!("c-{external_id}"),
        };
        let followers = if self.rng.random::<f64>() < INFLUENCER_SHARE {
            120_000
        } else {
            self.rng.random_range(0..2_000)
        };
        Planned {
            at,
            channel,
            external_id,
            thread_id,
            author,
            followers,
            visibility,
            category,
            text: self.pick_text(category),
            kind,
        }
    }

    /// One fresh message, and what follows from it: its platform retry, or for a
    /// spill-over its public follow-up.
    fn one(&mut self, at: f64, out: &mut Vec<Planned>) {
        if self.rng.random::<f64>() < self.mix.spill_over {
            let author = self.pick_author();
            let channel = self.spill_channel;
            let first = self.message(
                at,
                channel,
                Visibility::Private,
                author,
                Category::Sensitive,
                Kind::Fresh,
            );
            out.push(first);
            let follow = self.message(
                at + 2.0,
                channel,
                Visibility::Public,
                author,
                Category::Venting,
                Kind::SpillOver,
            );
            out.push(follow);
            return;
        }
        self.fresh(at, out);
        if self.rng.random::<f64>() < self.mix.platform_retries
            && let Some(original) = out.last()
        {
            let mut retry = original.clone();
            retry.at = at + self.rng.random_range(1.0..3.0);
            retry.kind = Kind::Retry;
            out.push(retry);
        }
    }

    fn fresh(&mut self, at: f64, out: &mut Vec<Planned>) {
        let category = self.pick_category();
        let private = self.rng.random::<f64>() < category.private_share();
        let channel = self.pick_channel(private);
        let visibility = if private {
            Visibility::Private
        } else {
            Visibility::Public
        };
        let author = self.pick_author();
        let message = self.message(at, channel, visibility, author, category, Kind::Fresh);
        out.push(message);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn standard() -> (SurgeScenario, Vec<Row>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/standard_surge.yaml");
        let (scenario, texts) = SurgeScenario::load(&path).unwrap();
        (scenario, crate::scenario::load(&texts).unwrap())
    }

    #[test]
    fn the_plan_follows_the_phases_and_the_mix() {
        let (scenario, rows) = standard();
        let planned = plan(&scenario, &rows, 1);
        let fresh: Vec<&Planned> = planned.iter().filter(|p| p.kind == Kind::Fresh).collect();
        let expected: f64 = scenario
            .phases
            .iter()
            .map(|p| (p.rate + p.to.unwrap_or(p.rate)) / 2.0 * p.secs)
            .sum();
        let n = planned.iter().filter(|p| p.kind != Kind::Retry).count() as f64;
        assert!((n / expected - 1.0).abs() < 0.02, "{n} of {expected}");
        let share = |f: &dyn Fn(&Planned) -> bool| {
            fresh.iter().filter(|p| f(p)).count() as f64 / fresh.len() as f64
        };
        let sensitive = share(&|p| p.category == Category::Sensitive);
        assert!(
            (sensitive - scenario.mix.sensitive).abs() < 0.01,
            "{sensitive}"
        );
        let retries = planned.iter().filter(|p| p.kind == Kind::Retry).count();
        assert!(retries > 0);
        let spill = planned.iter().filter(|p| p.kind == Kind::SpillOver).count();
        assert!(spill > 0);
        // Zipf: the most active author writes far more than the median one.
        let mut per_author: BTreeMap<u64, usize> = BTreeMap::new();
        for p in &fresh {
            *per_author.entry(p.author).or_default() += 1;
        }
        let top = per_author.values().max().copied().unwrap_or(0);
        assert!(top > 50, "top author wrote {top}");
        assert!(planned.windows(2).all(|w| w[0].at <= w[1].at));
        // A retry has the id of a message already planned.
        let retry = planned.iter().find(|p| p.kind == Kind::Retry).unwrap();
        assert!(
            planned
                .iter()
                .any(|p| p.kind != Kind::Retry && p.id() == retry.id())
        );
    }

    #[test]
    fn two_runs_on_one_cluster_never_share_an_id() {
        let (scenario, rows) = standard();
        let a = burst(&scenario, &rows, 2, 500);
        let b = burst(&scenario, &rows, 3, 500);
        assert!(a.iter().all(|x| b.iter().all(|y| x.id() != y.id())));
        let telegram = route(&rows, Category::KeyQuestion, Channel::Telegram, 4, 3);
        assert!(
            telegram[0]
                .external_id
                .starts_with(&telegram[0].author.to_string())
        );
    }
}
