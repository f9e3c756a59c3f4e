//! A surge scenario file (`scenarios/*.yaml`): the phases of the surge, the message
//! mix, how messages arrive, the budgets the harness playbook sets, and the sizes of
//! the side measurements. Data, not code, so a new surge shape is a new file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SurgeScenario {
    pub name: String,
    #[serde(default = "one")]
    pub seed: u64,
    /// The labelled texts (a `scenarios/*.tsv`), relative to the scenario file.
    pub texts: PathBuf,
    pub phases: Vec<Phase>,
    pub mix: Mix,
    pub ingest: IngestPaths,
    pub budgets: Budgets,
    #[serde(default)]
    pub cluster: ClusterShape,
    pub yardsticks: Yardsticks,
    /// Seconds after the last message to wait for every outcome.
    pub patience_secs: u64,
}

fn one() -> u64 {
    1
}

/// One phase: `rate` messages per second, moving linearly to `to` (if given) over
/// `secs` seconds.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    pub rate: f64,
    #[serde(default)]
    pub to: Option<f64>,
    pub secs: f64,
}

impl Phase {
    /// The rate `t` seconds into the phase.
    pub fn rate_at(&self, t: f64) -> f64 {
        let to = self.to.unwrap_or(self.rate);
        self.rate + (to - self.rate) * (t / self.secs).clamp(0.0, 1.0)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Share of French messages (the rest English).
    pub french: f64,
    /// Share of sensitive messages; the other categories keep their recall-surge
    /// proportions in the rest.
    pub sensitive: f64,
    /// Public channels and their weights.
    pub public_channels: BTreeMap<String, f64>,
    /// Private channels and their weights.
    pub private_channels: BTreeMap<String, f64>,
    /// Distinct authors, drawn with a Zipf law of this exponent (a few write a lot).
    pub authors: usize,
    pub zipf_exponent: f64,
    /// Share of messages that are a public follow-up, on the same platform, by an
    /// author who wrote a private sensitive message a little earlier (spill-over).
    pub spill_over: f64,
    /// Share of messages the platform delivers twice (same external id, 1–3 s later).
    pub platform_retries: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestPaths {
    /// Concurrent `Ingest/SubmitStream` streams (every channel but Telegram).
    pub grpc_streams: usize,
    /// Unacknowledged messages per stream at most.
    pub window: usize,
    /// Concurrent signed Telegram webhook deliveries.
    pub webhook_concurrency: usize,
}

/// The crisis-mode budgets of the harness playbook (the built-in playbook otherwise).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    pub global_per_sec: f64,
    pub per_channel_per_sec: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterShape {
    pub classify: usize,
    pub reply: usize,
}

impl Default for ClusterShape {
    fn default() -> Self {
        ClusterShape {
            classify: 2,
            reply: 2,
        }
    }
}

/// Sizes of the measurements around the surge.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Yardsticks {
    /// Messages sent as fast as ingest takes them, for the end-to-end capacity
    /// (0: skipped).
    pub capacity_messages: usize,
    /// Messages per route (replied, escalated) for Redis round trips (0: skipped).
    pub route_messages: usize,
    /// Raw JetStream publishes and consumes (0: skipped).
    pub raw_bus_messages: usize,
    /// Messages classified by the triage alone (0: skipped).
    pub triage_messages: usize,
}

impl SurgeScenario {
    pub fn load(path: &Path) -> anyhow::Result<(SurgeScenario, PathBuf)> {
        let body =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let scenario: SurgeScenario =
            serde_norway::from_str(&body).with_context(|| format!("parsing {}", path.display()))?;
        scenario.validate()?;
        let texts = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&scenario.texts);
        Ok((scenario, texts))
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.phases.is_empty(), "a scenario needs a phase");
        for phase in &self.phases {
            anyhow::ensure!(
                phase.secs > 0.0 && phase.rate >= 0.0 && phase.to.unwrap_or(0.0) >= 0.0,
                "phase {}: positive duration and rates",
                phase.name
            );
        }
        let m = &self.mix;
        for (what, share) in [
            ("french", m.french),
            ("sensitive", m.sensitive),
            ("spill_over", m.spill_over),
            ("platform_retries", m.platform_retries),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&share), "mix.{what} is a share");
        }
        anyhow::ensure!(m.authors > 0, "mix.authors must be positive");
        anyhow::ensure!(
            !m.public_channels.is_empty() && !m.private_channels.is_empty(),
            "mix needs public and private channels"
        );
        for channel in m.public_channels.keys().chain(m.private_channels.keys()) {
            anyhow::ensure!(
                firebreak_core::Channel::parse(channel).is_some(),
                "unknown channel {channel}"
            );
        }
        anyhow::ensure!(
            self.ingest.grpc_streams > 0 && self.ingest.window > 0,
            "ingest needs a stream and a window"
        );
        anyhow::ensure!(
            self.cluster.classify > 0 && self.cluster.reply > 0,
            "the cluster needs a classify and a reply worker"
        );
        Ok(())
    }

    /// The whole surge's length in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.phases.iter().map(|p| p.secs).sum()
    }

    /// The phase `t` seconds into the surge, with the time into it.
    pub fn phase_at(&self, t: f64) -> Option<(&Phase, f64)> {
        let mut start = 0.0;
        for phase in &self.phases {
            if t < start + phase.secs {
                return Some((phase, t - start));
            }
            start += phase.secs;
        }
        None
    }

    /// The highest rate of any phase: the peak.
    pub fn peak_rate(&self) -> f64 {
        self.phases
            .iter()
            .map(|p| p.rate.max(p.to.unwrap_or(0.0)))
            .fold(0.0, f64::max)
    }

    /// Start and end (seconds into the surge) of the phases running at the peak rate
    /// from start to end: where "at the peak" figures are taken.
    pub fn peak_window(&self) -> (f64, f64) {
        let peak = self.peak_rate();
        let (mut start, mut window) = (0.0, None::<(f64, f64)>);
        for phase in &self.phases {
            let flat = phase.to.is_none_or(|to| to == phase.rate);
            if flat && phase.rate == peak {
                window = Some(match window {
                    Some((s, _)) => (s, start + phase.secs),
                    None => (start, start + phase.secs),
                });
            }
            start += phase.secs;
        }
        window.unwrap_or((0.0, start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for name in ["standard_surge.yaml", "ci_surge.yaml"] {
            let (scenario, texts) = SurgeScenario::load(&dir.join(name)).unwrap();
            assert!(texts.is_file(), "{name}: {}", texts.display());
            assert!(scenario.duration_secs() > 0.0);
        }
        let (standard, _) = SurgeScenario::load(&dir.join("standard_surge.yaml")).unwrap();
        let baseline = standard.phases[0].rate;
        assert_eq!(standard.peak_rate(), 100.0 * baseline, "a 100× spike");
        let (from, to) = standard.peak_window();
        assert!(to > from);
    }

    #[test]
    fn a_ramp_moves_linearly() {
        let phase = Phase {
            name: "ramp".into(),
            rate: 10.0,
            to: Some(110.0),
            secs: 10.0,
        };
        assert_eq!(phase.rate_at(0.0), 10.0);
        assert_eq!(phase.rate_at(5.0), 60.0);
        assert_eq!(phase.rate_at(20.0), 110.0);
    }
}
