//! The report as text: the figures behind the targets, then the targets' table.

use std::fmt::Write as _;

use crate::proof::Report;
use crate::targets;

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.surge;
    let _ = writeln!(o, "== surge proof: {}", r.scenario.name);
    let _ = writeln!(o, "machine: {:?}", r.machine);
    let _ = writeln!(
        o,
        "surge: {} planned ({} platform retries), {} accepted, {} duplicate acks, {} refused, {} lost",
        s.planned, s.platform_retries_planned, s.accepted, s.duplicate_acks, s.refused, s.lost
    );
    let _ = writeln!(
        o,
        "outcomes: {:?}; deferrals {}; last outcome {:.1} s after the first message",
        s.outcomes, s.deferrals, s.elapsed_secs
    );
    let _ = writeln!(
        o,
        "end to end ms: all p50 {:.0} p99 {:.0} max {:.0}; at the peak p50 {:.0} p99 {:.0}",
        s.e2e_ms.p50, s.e2e_ms.p99, s.e2e_ms.max, s.e2e_at_peak_ms.p50, s.e2e_at_peak_ms.p99
    );
    let _ = writeln!(
        o,
        "P1 cases ms: all p50 {:.0} p99 {:.0} ({}); at the peak p50 {:.0} p99 {:.0} ({})",
        s.p1_case_ms.p50,
        s.p1_case_ms.p99,
        s.p1_case_ms.count,
        s.p1_case_at_peak_ms.p50,
        s.p1_case_at_peak_ms.p99,
        s.p1_case_at_peak_ms.count,
    );
    let _ = writeln!(o, "urgent lane (ingest's hints): {:?}", s.urgent_lane);
    for (hop, q) in &s.p1_case_at_peak_hops_ms {
        let _ = writeln!(
            o,
            "  P1 cases at the peak, hop {hop}: p50 {:.0} p99 {:.0} ({})",
            q.p50, q.p99, q.count
        );
    }
    let raw = s.p1_case_from_acceptance_at_peak_ms;
    let _ = writeln!(
        o,
        "P1 cases at the peak, counted from the trigger's acceptance even for a spill-over whose private case did not exist yet: p50 {:.0} p99 {:.0} ({})",
        raw.p50, raw.p99, raw.count
    );
    let _ = writeln!(
        o,
        "P1 cases at the peak over 250 ms: {} of {}",
        s.p1_cases_at_peak_over_250_ms, s.p1_case_at_peak_ms.count
    );
    for slow in s.slowest_p1_cases.iter().take(8) {
        let _ = writeln!(
            o,
            "  slow P1 case: {:.0} ms, {} {:?}, {} {}: {}",
            slow.ms, slow.reason, slow.flags, slow.category, slow.visibility, slow.text
        );
    }
    for (reason, q) in &s.p1_case_at_peak_by_reason_ms {
        let _ = writeln!(
            o,
            "  P1 cases at the peak, {reason}: p50 {:.0} p99 {:.0} ({})",
            q.p50, q.p99, q.count
        );
    }
    let _ = writeln!(
        o,
        "messages of P1 cases ms: all p50 {:.0} p99 {:.0} ({}); at the peak p50 {:.0} p99 {:.0} ({}); messages in cases by priority {:?}",
        s.p1_ms.p50,
        s.p1_ms.p99,
        s.p1_ms.count,
        s.p1_at_peak_ms.p50,
        s.p1_at_peak_ms.p99,
        s.p1_at_peak_ms.count,
        s.cases_seen_by_priority
    );
    let _ = writeln!(
        o,
        "replies: {} sends {:?}, {} recipients, at most {} to one recipient ({} in one second)",
        s.sends.total,
        s.sends.per_channel,
        s.sends.recipients,
        s.sends.max_per_recipient,
        s.sends.max_per_recipient_per_sec
    );
    for b in &s.budgets {
        let _ = writeln!(
            o,
            "  budget {}: at most {} sends in any 1 s, budget {}/s",
            b.channel, b.max_in_any_second, b.budget_per_sec
        );
    }
    if let Some(c) = &r.capacity {
        let _ = writeln!(
            o,
            "capacity: {} messages, ingest {:.0} msg/s, end to end {:.0} msg/s, lost {}, e2e p50 {:.0} ms p99 {:.0} ms",
            c.messages, c.ingest_per_sec, c.end_to_end_per_sec, c.lost, c.e2e_ms.p50, c.e2e_ms.p99
        );
        let cpu: Vec<String> = c
            .cpu_ms_per_message
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.3}"))
            .collect();
        let total: f64 = c.cpu_ms_per_message.values().sum();
        let _ = writeln!(
            o,
            "capacity CPU per message (ms): {} (total {total:.3})",
            cpu.join(", ")
        );
    }
    if let Some(b) = &r.raw_bus {
        let _ = writeln!(
            o,
            "raw JetStream ({} × {} B): publish {:.0} msg/s, consume {:.0} msg/s",
            b.messages, b.payload_bytes, b.publish_per_sec, b.consume_per_sec
        );
    }
    if let Some(t) = &r.triage_alone {
        let _ = writeln!(o, "triage alone, one thread: {:.0} msg/s", t.per_sec);
    }
    if let Some(x) = r.pipeline_over_bus {
        let _ = writeln!(o, "pipeline ÷ bus publish: {x:.3}");
    }
    if let Some(x) = r.pipeline_over_triage {
        let _ = writeln!(o, "pipeline ÷ triage alone: {x:.3}");
    }
    for t in &r.routes {
        let _ = writeln!(
            o,
            "redis, route {}: {:.1} calls per message ({} messages, {} on the route, {} calls less {:.0} background); busiest {:?}",
            t.route, t.per_message, t.messages, t.on_route, t.calls, t.background_calls, t.busiest
        );
    }
    let _ = writeln!(o, "peak RSS MB: {:?}", r.peak_rss_mb);
    let _ = writeln!(o, "exits after SIGTERM: {:?}", r.exits);
    o.push('\n');
    o.push_str(&targets::table(&r.targets));
    o
}
