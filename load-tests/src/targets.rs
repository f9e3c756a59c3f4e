//! The targets, checked against a report, and the table printed at the end of
//! a run (the README's table is this one).

use serde::Serialize;

use crate::proof::Report;

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub what: String,
    pub target: String,
    pub measured: String,
    /// `None` when the run did not measure it.
    pub met: Option<bool>,
}

fn check(what: &str, target: &str, measured: String, met: Option<bool>) -> Check {
    Check {
        what: what.into(),
        target: target.into(),
        measured,
        met,
    }
}

pub fn evaluate(r: &Report) -> Vec<Check> {
    let s = &r.surge;
    let mut out = vec![
        check(
            "lost (accepted, no outcome)",
            "0",
            format!("{} of {}", s.lost, s.accepted),
            Some(s.lost == 0),
        ),
        check(
            "duplicate replies (a message answered twice)",
            "0",
            format!(
                "{} ({} duplicate sends)",
                s.sends.messages_answered_twice, s.sends.duplicate_sends
            ),
            Some(s.sends.messages_answered_twice == 0),
        ),
        check(
            "dead-lettered",
            "0",
            s.dead_lettered.to_string(),
            Some(s.dead_lettered == 0),
        ),
    ];
    let over: Vec<String> = s
        .budgets
        .iter()
        .filter(|b| !b.within)
        .map(|b| {
            format!(
                "{} {} in 1 s (budget {})",
                b.channel, b.max_in_any_second, b.budget_per_sec
            )
        })
        .collect();
    out.push(check(
        "replies within budget in every 1 s window",
        "every channel",
        if over.is_empty() {
            "yes".into()
        } else {
            over.join("; ")
        },
        Some(over.is_empty()),
    ));
    let p1 = s.p1_case_at_peak_ms;
    out.push(check(
        "P1 cases: accepted → seen by the watcher at P1, p99 at the peak",
        "≤ 250 ms",
        format!(
            "{:.0} ms (p50 {:.0} ms, {} P1 cases)",
            p1.p99, p1.p50, p1.count
        ),
        (p1.count > 0).then_some(p1.p99 <= 250.0),
    ));
    // Not a target: every message of a P1 case, those joining it later included.
    let messages = s.p1_at_peak_ms;
    out.push(check(
        "messages of P1 cases: accepted → first seen in their case, p99 at the peak",
        "(no bound)",
        format!(
            "{:.0} ms (p50 {:.0} ms, {} messages)",
            messages.p99, messages.p50, messages.count
        ),
        None,
    ));
    let peak = r.scenario.peak_rate();
    let e2e = s.e2e_at_peak_ms;
    out.push(check(
        &format!("p99 end to end at the peak ({peak:.0} msg/s offered)"),
        "≤ 50 ms at 2,000 msg/s",
        format!("{:.0} ms (p50 {:.0} ms)", e2e.p99, e2e.p50),
        (e2e.count > 0 && peak >= 2000.0).then_some(e2e.p99 <= 50.0),
    ));
    out.push(check(
        "end-to-end capacity ÷ triage alone",
        "≥ 0.5",
        r.pipeline_over_triage
            .map(|x| format!("{x:.3}"))
            .unwrap_or_else(|| "not measured".into()),
        r.pipeline_over_triage.map(|x| x >= 0.5),
    ));
    out.push(check(
        "end-to-end capacity ÷ raw JetStream publish",
        "≥ 0.10",
        r.pipeline_over_bus
            .map(|x| format!("{x:.3}"))
            .unwrap_or_else(|| "not measured".into()),
        r.pipeline_over_bus.map(|x| x >= 0.10),
    ));
    let firebreak_rss = r
        .peak_rss_mb
        .iter()
        .filter(|(name, _)| !name.ends_with("-server"))
        .map(|(_, mb)| *mb)
        .fold(0.0, f64::max);
    out.push(check(
        "peak RSS of any firebreak process",
        "≤ 200 MB",
        format!("{firebreak_rss:.0} MB"),
        (!r.peak_rss_mb.is_empty()).then_some(firebreak_rss <= 200.0),
    ));
    for (route, bound) in [("replied", 8.0), ("escalated", 6.0)] {
        let trips = r.routes.iter().find(|t| t.route == route);
        out.push(check(
            &format!("Redis round trips per {route} message"),
            &format!("≤ {bound}"),
            trips
                .map(|t| format!("{:.1}", t.per_message))
                .unwrap_or_else(|| "not measured".into()),
            trips.map(|t| t.per_message <= bound),
        ));
    }
    out
}

/// The summary table, in Markdown.
pub fn table(checks: &[Check]) -> String {
    let mut out = String::from("| target | bound | measured | met |\n|---|---|---|---|\n");
    for c in checks {
        let met = match c.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {met} |\n",
            c.what, c.target, c.measured
        ));
    }
    out
}
