//! How flags become a decision: the phrase-family flags and the figure-of-speech veto
//! that the engine applies to every message, then escalation at the most urgent flag's
//! priority, hostility noted without a case, and the sensitive invariant that has the
//! last word.

use firebreak_core::{Classification, Flag, Priority, Route};

use crate::detectors::patterns::PatternReading;
use crate::detectors::{POSSIBLE, flag_priority, kind};

/// Evidence prefix of a flag raised by a phrase-family pattern.
pub(crate) const PATTERN_EVIDENCE: &str = "pattern";

/// Flags from the phrase-family patterns, beside the exact-term lexicons: a kind the
/// lexicon already flagged gets the pattern's label added to its evidence.
pub(crate) fn add_pattern_flags(flags: &mut Vec<Flag>, reading: &PatternReading<'_>) {
    for &(kind, label) in &reading.kinds {
        match flags.iter_mut().find(|f| f.kind == kind) {
            Some(flag) => {
                flag.evidence = format!("{PATTERN_EVIDENCE} \"{label}\", {}", flag.evidence)
            }
            // Care named without a harm ("my mum is in intensive care, when will
            // the line be back?") is no incident: the family only says how serious
            // one is that something else found.
            None if SEVERITY_ONLY.contains(&label) => {}
            // A veiled threat ("ça va mal finir pour vous") names no act: a person
            // reads it soon, at P2, rather than at the kind's own P1.
            None if label.starts_with(VEILED) => flags.push(Flag::new(
                kind,
                format!("{POSSIBLE}: {PATTERN_EVIDENCE} \"{label}\""),
                0.8,
            )),
            None => flags.push(Flag::new(
                kind,
                format!("{PATTERN_EVIDENCE} \"{label}\""),
                1.0,
            )),
        }
    }
}

/// Label prefix of the phrase families that foretell harm without naming an act.
const VEILED: &str = "veiled";

/// Phrase families that add to a flag raised otherwise but raise none themselves:
/// hospitals and ambulances are named in everyday messages about relatives, visits and
/// outages, and only a harm the product caused makes them a health incident.
const SEVERITY_ONLY: [&str; 1] = ["emergency care"];

/// On a figure of speech ("je meurs de rire", "this burger is killer"), self-harm,
/// threat and hate alarms that only a single term or the model raised are dropped; a
/// phrase-family pattern still stands.
pub(crate) fn drop_figurative_alarms(
    flags: &mut Vec<Flag>,
    reading: &PatternReading<'_>,
) -> Option<String> {
    let figure = reading.figurative?;
    let before = flags.len();
    flags.retain(|f| {
        let violent = matches!(f.kind.as_str(), kind::SELF_HARM | kind::THREAT | kind::HATE);
        !violent || f.evidence.starts_with(PATTERN_EVIDENCE)
    });
    (flags.len() < before)
        .then(|| format!("figure of speech (\"{figure}\"): term or model alarm dropped"))
}

pub(crate) fn escalate_on_flags(decision: &mut Classification, flags: Vec<Flag>) {
    let mut priority = flags
        .iter()
        .map(flag_priority)
        .min()
        .unwrap_or(Priority::P4);
    // An influencer makes any other problem one step more urgent: it travels further.
    let influencer = flags.iter().any(|f| f.kind == kind::INFLUENCER);
    if influencer && flags.len() > 1 {
        priority = raise(priority);
    }
    decision.route = Route::Escalate;
    decision.priority = priority;
    decision.confidence = flags.iter().map(|f| f.score).fold(0.0, f64::max);
    for flag in &flags {
        let mut reason = format!(
            "{}: {} ({})",
            flag.kind,
            flag.evidence,
            flag_priority(flag).as_str()
        );
        if kind::ALWAYS_ESCALATE.contains(&flag.kind.as_str()) {
            reason.push_str(", always escalated");
        }
        if flag.kind == kind::SELF_HARM {
            reason.push_str(", never auto-replied");
        }
        decision.reasons.push(reason);
    }
    if influencer && flags.len() > 1 {
        decision.reasons.push(format!(
            "influencer raises the priority to {}",
            priority.as_str()
        ));
    }
    decision.flags = flags;
}

/// Flags that do not need a human on their own (hostility) stay on the decision as
/// evidence and for the insights, with a reason saying they did not escalate.
pub(crate) fn note_signals(decision: &mut Classification, flags: Vec<Flag>) {
    for flag in &flags {
        decision.reasons.push(format!(
            "{}: {} (noted, not a reason for a human on its own)",
            flag.kind, flag.evidence
        ));
    }
    decision.flags = flags;
}

fn raise(priority: Priority) -> Priority {
    match priority {
        Priority::P1 | Priority::P2 => Priority::P1,
        Priority::P3 => Priority::P2,
        Priority::P4 => Priority::P3,
    }
}

/// The last word on routing: sensitive kinds escalate, at least at their own priority.
pub(crate) fn enforce_sensitive_invariant(decision: &mut Classification) {
    let sensitive: Vec<Priority> = decision
        .flags
        .iter()
        .filter(|f| kind::ALWAYS_ESCALATE.contains(&f.kind.as_str()))
        .map(flag_priority)
        .collect();
    if let Some(&most_urgent) = sensitive.iter().min() {
        decision.route = Route::Escalate;
        decision.priority = decision.priority.min(most_urgent);
    }
}
