//! What a surge run adds up to: each message's acceptance joined with its ending, its
//! case event and the platform's sends, as figures (lost, duplicates, latencies) and
//! as per-second series for the charts. Pure: the run's records in, numbers out.

use std::collections::{BTreeMap, HashMap};

use firebreak_core::{MessageId, Stage};
use serde::Serialize;

use crate::drive::Sent;
use crate::fake_platform::{self, Delivery, SendStats};
use crate::outcomes::Ending;
use crate::plan::Planned;
use crate::surge_scenario::Budgets;
use crate::watch::{P1Case, Seen};

/// Milliseconds since the Unix epoch, as f64: the one clock every process shares.
pub fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Latency quantiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Quantiles {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn quantiles(values: &mut [f64]) -> Quantiles {
    if values.is_empty() {
        return Quantiles::default();
    }
    values.sort_by(f64::total_cmp);
    let at =
        |q: f64| values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1];
    Quantiles {
        count: values.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: values[values.len() - 1],
    }
}

/// How many of the slowest P1 cases a report lists.
pub const SLOWEST_P1: usize = 20;

/// A P1 case that reached the watcher late.
#[derive(Clone, Debug, Serialize)]
pub struct SlowP1 {
    pub ms: f64,
    pub reason: String,
    pub flags: Vec<String>,
    /// The scenario's category of its trigger, and the trigger's text (the harness's
    /// own synthetic rows).
    pub category: String,
    pub visibility: String,
    pub text: String,
}

/// One second of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Second {
    pub t: u32,
    pub accepted: usize,
    pub finished: usize,
    /// Accepted so far without an outcome, at the end of the second.
    pub backlog: i64,
    /// End-to-end latency of the messages accepted in this second.
    pub e2e_p50_ms: f64,
    pub e2e_p99_ms: f64,
    /// Sends received by the fake platform, per channel.
    pub replies: BTreeMap<String, usize>,
}

/// The replies to one channel against its budget.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetCheck {
    pub channel: String,
    pub budget_per_sec: f64,
    /// The most sends within any one-second window (sliding).
    pub max_in_any_second: usize,
    pub within: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RunFigures {
    pub planned: usize,
    pub platform_retries_planned: usize,
    pub accepted: usize,
    /// Submissions ingest answered as already known (platform retries).
    pub duplicate_acks: usize,
    /// Submissions ingest refused (never accepted, so not lost).
    pub refused: usize,
    pub lost: usize,
    pub outcomes: BTreeMap<String, usize>,
    pub dead_lettered: usize,
    pub deferrals: usize,
    /// First message sent to last outcome, seconds.
    pub elapsed_secs: f64,
    pub e2e_ms: Quantiles,
    /// Messages accepted during the peak phase.
    pub e2e_at_peak_ms: Quantiles,
    /// Every message of a P1 case, from its acceptance to its first case event
    /// (messages joining a case that was already P1 included).
    pub p1_ms: Quantiles,
    pub p1_at_peak_ms: Quantiles,
    /// Each P1 case once: from the acceptance of the message that made it P1 to the
    /// case's first event at P1. When that event added several messages, the earliest
    /// accepted of them is taken (the slower reading).
    pub p1_case_ms: Quantiles,
    pub p1_case_at_peak_ms: Quantiles,
    /// The same, every case counted from its trigger's acceptance (spill-overs whose
    /// private case did not exist yet included).
    pub p1_case_from_acceptance_at_peak_ms: Quantiles,
    /// The same at the peak, per reason ([`crate::watch::p1_reason`]).
    pub p1_case_at_peak_by_reason_ms: BTreeMap<String, Quantiles>,
    /// Where the time of the P1 cases at the peak goes, hop by hop: accepted →
    /// classified, classified → filed (the message's outcome), filed → seen by the
    /// watcher. Measured on each case's earliest trigger.
    pub p1_case_at_peak_hops_ms: BTreeMap<String, Quantiles>,
    pub p1_cases_at_peak_over_250_ms: usize,
    /// The slowest P1 cases at the peak (at most [`SLOWEST_P1`]), to see what took them
    /// past 250 ms.
    pub slowest_p1_cases: Vec<SlowP1>,
    /// Messages ingest sent down the urgent lane, per hint kind (its metrics).
    pub urgent_lane: BTreeMap<String, u64>,
    /// Messages seen in a case, per priority (1–4).
    pub cases_seen_by_priority: BTreeMap<i32, usize>,
    pub sends: SendStats,
    pub budgets: Vec<BudgetCheck>,
}

/// Everything one run left behind.
pub struct RunRecords<'a> {
    pub plan: &'a [Planned],
    pub sent: &'a [Sent],
    pub endings: &'a HashMap<MessageId, Ending>,
    pub seen: &'a HashMap<MessageId, Seen>,
    pub p1_cases: &'a [P1Case],
    pub sends: &'a [Delivery],
    /// Unix ms when the first message left.
    pub started_ms: f64,
    /// Seconds into the run between which figures are "at the peak".
    pub peak: (f64, f64),
}

/// When each distinct message was first acknowledged by ingest.
pub fn accepted_at(plan: &[Planned], sent: &[Sent]) -> HashMap<MessageId, f64> {
    let mut accepted: HashMap<MessageId, f64> = HashMap::new();
    for (p, s) in plan.iter().zip(sent) {
        if let Some(at) = s.acked_ms {
            let e = accepted.entry(p.id()).or_insert(at);
            *e = e.min(at);
        }
    }
    accepted
}

/// Per P1 case: when its trigger was accepted (unix ms) and how long it took to reach
/// the watcher at P1. A case whose triggers were never accepted by this run is skipped.
pub fn p1_case_latencies(cases: &[P1Case], accepted: &HashMap<MessageId, f64>) -> Vec<(f64, f64)> {
    cases
        .iter()
        .filter_map(|case| p1_case_latency(case, accepted))
        .collect()
}

/// Counted from the trigger's acceptance, or for a spill-over from the moment its
/// private case was first seen when that came later: a public message accepted before
/// its author's private case existed could not be known as P1 until then.
fn p1_case_latency(case: &P1Case, accepted: &HashMap<MessageId, f64>) -> Option<(f64, f64)> {
    let at = trigger_accepted(case, accepted)?;
    let since = case.linked_seen_ms.map_or(at, |linked| linked.max(at));
    Some((at, (case.at_ms - since).max(0.0)))
}

/// The earliest acceptance among the messages that made the case P1.
fn trigger_accepted(case: &P1Case, accepted: &HashMap<MessageId, f64>) -> Option<f64> {
    case.triggers
        .iter()
        .filter_map(|id| accepted.get(id))
        .copied()
        .reduce(f64::min)
}

pub fn figures(r: &RunRecords<'_>) -> (RunFigures, Vec<Second>) {
    let accepted = accepted_at(r.plan, r.sent);
    let mut f = RunFigures {
        planned: r.plan.len(),
        platform_retries_planned: r
            .plan
            .iter()
            .filter(|p| p.kind == crate::plan::Kind::Retry)
            .count(),
        accepted: accepted.len(),
        duplicate_acks: r.sent.iter().filter(|s| s.duplicate).count(),
        refused: r
            .sent
            .iter()
            .filter(|s| s.acked_ms.is_none() && s.error.is_some())
            .count(),
        sends: fake_platform::stats(r.sends),
        ..RunFigures::default()
    };
    let second = |ms: f64| ((ms - r.started_ms) / 1000.0).max(0.0) as usize;
    let in_peak = |ms: f64| {
        let t = (ms - r.started_ms) / 1000.0;
        t >= r.peak.0 && t < r.peak.1
    };
    let mut e2e = Vec::new();
    let mut e2e_peak = Vec::new();
    let mut per_second_e2e: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    let mut series: BTreeMap<usize, Second> = BTreeMap::new();
    let mut last_ms = r.started_ms;
    for (id, at) in &accepted {
        series.entry(second(*at)).or_default().accepted += 1;
        let Some(ending) = r.endings.get(id) else {
            f.lost += 1;
            continue;
        };
        *f.outcomes
            .entry(ending.stage.as_str().to_string())
            .or_default() += 1;
        f.dead_lettered += usize::from(ending.stage == Stage::DeadLettered);
        f.deferrals += ending.deferrals;
        series.entry(second(ending.at_ms)).or_default().finished += 1;
        last_ms = last_ms.max(ending.at_ms);
        let latency = (ending.at_ms - at).max(0.0);
        e2e.push(latency);
        per_second_e2e.entry(second(*at)).or_default().push(latency);
        if in_peak(*at) {
            e2e_peak.push(latency);
        }
    }
    f.elapsed_secs = (last_ms - r.started_ms) / 1000.0;
    f.e2e_ms = quantiles(&mut e2e);
    f.e2e_at_peak_ms = quantiles(&mut e2e_peak);
    let (mut p1, mut p1_peak) = (Vec::new(), Vec::new());
    for (id, seen) in r.seen {
        *f.cases_seen_by_priority.entry(seen.priority).or_default() += 1;
        if seen.priority != 1 {
            continue;
        }
        if let Some(at) = accepted.get(id) {
            let latency = (seen.at_ms - at).max(0.0);
            p1.push(latency);
            if in_peak(*at) {
                p1_peak.push(latency);
            }
        }
    }
    f.p1_ms = quantiles(&mut p1);
    f.p1_at_peak_ms = quantiles(&mut p1_peak);
    let (mut cases, mut cases_peak) = (Vec::new(), Vec::new());
    let mut by_reason: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut hops: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (case, (at, latency)) in r
        .p1_cases
        .iter()
        .filter_map(|case| Some((case, p1_case_latency(case, &accepted)?)))
    {
        cases.push(latency);
        if in_peak(at) {
            cases_peak.push(latency);
            by_reason.entry(case.reason).or_default().push(latency);
            let ending = case
                .triggers
                .iter()
                .filter(|id| accepted.get(id) == Some(&at))
                .find_map(|id| r.endings.get(id));
            if let Some(ending) = ending
                && let Some(classified) = ending.classified_ms
            {
                for (hop, ms) in [
                    ("1 accepted → classified", classified - at),
                    ("2 classified → filed", ending.at_ms - classified),
                    ("3 filed → watcher", case.at_ms - ending.at_ms),
                ] {
                    hops.entry(hop).or_default().push(ms.max(0.0));
                }
            }
        }
    }
    let by_id: HashMap<MessageId, &Planned> = r.plan.iter().map(|p| (p.id(), p)).collect();
    let mut slow: Vec<(f64, &P1Case, MessageId)> = r
        .p1_cases
        .iter()
        .filter_map(|case| {
            let (at, ms) = p1_case_latency(case, &accepted)?;
            let trigger = *case
                .triggers
                .iter()
                .find(|id| accepted.get(id) == Some(&at))?;
            (in_peak(at) && ms > 250.0).then_some((ms, case, trigger))
        })
        .collect();
    slow.sort_by(|a, b| b.0.total_cmp(&a.0));
    f.p1_cases_at_peak_over_250_ms = slow.len();
    f.slowest_p1_cases = slow
        .into_iter()
        .take(SLOWEST_P1)
        .map(|(ms, case, trigger)| {
            let planned = by_id.get(&trigger);
            SlowP1 {
                ms,
                reason: case.reason.to_string(),
                flags: case.flags.clone(),
                category: planned
                    .map(|p| format!("{:?}", p.category))
                    .unwrap_or_default(),
                visibility: planned
                    .map(|p| p.visibility.as_str().to_string())
                    .unwrap_or_default(),
                text: planned.map(|p| p.text.to_string()).unwrap_or_default(),
            }
        })
        .collect();
    f.p1_case_at_peak_hops_ms = hops
        .into_iter()
        .map(|(hop, mut v)| (hop.to_string(), quantiles(&mut v)))
        .collect();
    f.p1_case_ms = quantiles(&mut cases);
    f.p1_case_at_peak_ms = quantiles(&mut cases_peak);
    let mut raw: Vec<f64> = r
        .p1_cases
        .iter()
        .filter_map(|case| {
            let at = trigger_accepted(case, &accepted)?;
            in_peak(at).then_some((case.at_ms - at).max(0.0))
        })
        .collect();
    f.p1_case_from_acceptance_at_peak_ms = quantiles(&mut raw);
    f.p1_case_at_peak_by_reason_ms = by_reason
        .into_iter()
        .map(|(reason, mut v)| (reason.to_string(), quantiles(&mut v)))
        .collect();
    for s in r.sends {
        *series
            .entry(second(s.at_ms))
            .or_default()
            .replies
            .entry(s.channel.clone())
            .or_default() += 1;
    }
    let end = series.keys().next_back().copied().unwrap_or(0);
    let mut backlog = 0i64;
    let seconds = (0..=end)
        .map(|t| {
            let mut s = series.remove(&t).unwrap_or_default();
            s.t = t as u32;
            backlog += s.accepted as i64 - s.finished as i64;
            s.backlog = backlog;
            if let Some(mut l) = per_second_e2e.remove(&t) {
                let q = quantiles(&mut l);
                (s.e2e_p50_ms, s.e2e_p99_ms) = (q.p50, q.p99);
            }
            s
        })
        .collect();
    (f, seconds)
}

/// The most sends within any one-second window, per channel and for all channels
/// (`global`), against the playbook's budgets.
pub fn budget_checks(sends: &[Delivery], budgets: &Budgets) -> Vec<BudgetCheck> {
    let mut by_channel: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in sends {
        by_channel
            .entry(s.channel.clone())
            .or_default()
            .push(s.at_ms);
        by_channel.entry("global".into()).or_default().push(s.at_ms);
    }
    by_channel
        .into_iter()
        .map(|(channel, mut times)| {
            times.sort_by(f64::total_cmp);
            let mut max = 0;
            let mut start = 0;
            for end in 0..times.len() {
                while times[end] - times[start] >= 1000.0 {
                    start += 1;
                }
                max = max.max(end - start + 1);
            }
            let budget = if channel == "global" {
                budgets.global_per_sec
            } else {
                budgets
                    .per_channel_per_sec
                    .get(&channel)
                    .or_else(|| budgets.per_channel_per_sec.get("default"))
                    .copied()
                    .unwrap_or(budgets.global_per_sec)
            };
            BudgetCheck {
                within: max as f64 <= budget.ceil(),
                channel,
                budget_per_sec: budget,
                max_in_any_second: max,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(channel: &str, at_ms: f64) -> Delivery {
        Delivery {
            at_ms,
            channel: channel.into(),
            recipient: format!("{channel}:r"),
            answers: format!("{at_ms}"),
        }
    }

    #[test]
    fn the_busiest_second_is_found_across_window_edges() {
        let budgets = Budgets {
            global_per_sec: 10.0,
            per_channel_per_sec: [("telegram".to_string(), 2.0)].into(),
        };
        // Three sends within 600 ms, split across two aligned seconds.
        let sends = [
            send("telegram", 700.0),
            send("telegram", 900.0),
            send("telegram", 1300.0),
            send("messenger", 5000.0),
        ];
        let checks = budget_checks(&sends, &budgets);
        let telegram = checks.iter().find(|c| c.channel == "telegram").unwrap();
        assert_eq!(telegram.max_in_any_second, 3);
        assert!(!telegram.within);
        let messenger = checks.iter().find(|c| c.channel == "messenger").unwrap();
        assert_eq!(messenger.budget_per_sec, 10.0);
        assert!(messenger.within);
    }

    #[test]
    fn quantiles_take_the_rank_above() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let q = quantiles(&mut v);
        assert_eq!((q.p50, q.p99, q.max), (50.0, 99.0, 100.0));
        assert_eq!(quantiles(&mut []).count, 0);
    }

    #[test]
    fn a_spill_over_is_timed_from_its_private_case_when_that_came_later() {
        let trigger = MessageId::derive(firebreak_core::Channel::X, "post");
        let accepted = HashMap::from([(trigger, 1_000.0)]);
        let mut case = P1Case {
            at_ms: 9_000.0,
            triggers: vec![trigger],
            reason: "spill_over",
            flags: vec!["spill_over".into()],
            linked_seen_ms: Some(8_950.0),
        };
        assert_eq!(p1_case_latency(&case, &accepted), Some((1_000.0, 50.0)));
        // A private case seen before the public message: from the acceptance.
        case.linked_seen_ms = Some(500.0);
        assert_eq!(p1_case_latency(&case, &accepted), Some((1_000.0, 8_000.0)));
    }
}
