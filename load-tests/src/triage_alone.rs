//! The triage alone: the same texts classified in-process, on one thread, in crisis
//! mode, with the harness playbook. The yardstick "pipeline ÷ classify alone" divides
//! by; with two classify workers the pipeline has two such threads at most.

use std::time::Instant;

use firebreak_core::rules::TriageContext;
use firebreak_triage::{Observed, Playbook, TriageEngine};

use crate::plan::Planned;

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct TriageAlone {
    pub messages: usize,
    pub per_sec: f64,
}

/// Classifies up to `count` of the planned messages (cycling through them), as the
/// classify stage does: with the observations the insights keep.
pub fn measure(playbook: Playbook, planned: &[Planned], count: usize) -> TriageAlone {
    let engine = TriageEngine::new(playbook);
    let context = TriageContext {
        crisis_active: true,
        ..TriageContext::default()
    };
    let messages: Vec<_> = planned
        .iter()
        .take(count.min(planned.len()))
        .map(|p| {
            let mut m = firebreak_triage::dry_run_message(&p.text, p.visibility);
            m.channel = p.channel;
            m.author.id = p.author.to_string();
            m.author.followers = p.followers;
            m
        })
        .collect();
    if messages.is_empty() {
        return TriageAlone {
            messages: 0,
            per_sec: 0.0,
        };
    }
    // One pass to warm caches and lazily built models, not timed.
    for m in messages.iter().take(50) {
        engine.classify_observed(m, &context, &mut Observed::default());
    }
    let started = Instant::now();
    for i in 0..count {
        let m = &messages[i % messages.len()];
        std::hint::black_box(engine.classify_observed(m, &context, &mut Observed::default()));
    }
    TriageAlone {
        messages: count,
        per_sec: count as f64 / started.elapsed().as_secs_f64(),
    }
}
