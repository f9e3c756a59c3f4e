//! How cases read in a terminal: the `cases list` table (header, age, due time, flags,
//! an excerpt; long values cut to their column) and the `cases show` page. JSON forms
//! for `--json` live here too, with names rather than enum numbers.

use firebreak_proto::v1 as pb;
use serde_json::{Value, json};
use time::OffsetDateTime;

pub fn status_name(value: i32) -> &'static str {
    match pb::CaseStatus::try_from(value).unwrap_or(pb::CaseStatus::Unspecified) {
        pb::CaseStatus::Open => "open",
        pb::CaseStatus::Claimed => "claimed",
        pb::CaseStatus::Acknowledged => "acknowledged",
        pb::CaseStatus::Resolved => "resolved",
        pb::CaseStatus::Snoozed => "snoozed",
        pb::CaseStatus::Unspecified => "unknown",
    }
}

pub fn priority_name(value: i32) -> String {
    match pb::Priority::try_from(value).unwrap_or(pb::Priority::Unspecified) {
        pb::Priority::Unspecified => "P?".into(),
        p => format!("P{}", p as i32),
    }
}

pub fn event_name(value: i32) -> String {
    pb::CaseEventKind::try_from(value)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("CASE_EVENT_KIND_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

pub fn channel_name(value: i32) -> String {
    pb::Channel::try_from(value)
        .map(|c| {
            c.as_str_name()
                .trim_start_matches("CHANNEL_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn visibility_name(value: i32) -> &'static str {
    match pb::Visibility::try_from(value).unwrap_or(pb::Visibility::Unspecified) {
        pb::Visibility::Public => "public",
        pb::Visibility::Private => "private",
        pb::Visibility::Unspecified => "unknown",
    }
}

fn at(t: Option<&prost_types::Timestamp>) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t?.seconds).ok()
}

fn time_text(t: Option<&prost_types::Timestamp>) -> Option<String> {
    at(t)?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A span as people say it: `45s`, `12m`, `3h05`, `2d04h`.
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// The SLA deadline still running: `claim in 4m`, `ack 2m late`, or `-`.
pub fn due_text(c: &pb::Case, now: OffsetDateTime) -> String {
    let (what, due) = match pb::CaseStatus::try_from(c.status) {
        Ok(pb::CaseStatus::Open) => ("claim", at(c.claim_due.as_ref())),
        Ok(pb::CaseStatus::Claimed) => ("ack", at(c.ack_due.as_ref())),
        Ok(pb::CaseStatus::Snoozed) => ("wakes", at(c.snoozed_until.as_ref())),
        _ => return "-".into(),
    };
    match due {
        None => "-".into(),
        Some(due) if due >= now => format!("{what} in {}", span((due - now).whole_seconds())),
        Some(due) => format!("{what} {} LATE", span((now - due).whole_seconds())),
    }
}

/// `text` cut to `width` characters, with `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= width {
        return flat;
    }
    let mut cut: String = flat.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

const HEADER: [(&str, usize); 8] = [
    ("ID", 8),
    ("PRI", 3),
    ("STATUS", 12),
    ("AGE", 6),
    ("DUE", 14),
    ("FLAGS", 16),
    ("HELD BY", 10),
    ("EXCERPT", 0),
];

fn row(cells: [String; 8]) -> String {
    let mut line = String::new();
    for ((_, width), cell) in HEADER.iter().zip(cells) {
        if *width == 0 {
            line.push_str(&cell);
        } else {
            let cell = fit(&cell, *width);
            line.push_str(&format!("{cell:<width$}  "));
        }
    }
    line.trim_end().to_string()
}

pub fn list_header() -> String {
    row(HEADER.map(|(name, _)| name.to_string()))
}

/// One row of `cases list`.
pub fn list_row(c: &pb::Case, now: OffsetDateTime) -> String {
    let age = at(c.created_at.as_ref()).map_or("-".into(), |t| span((now - t).whole_seconds()));
    let flags = c
        .flags
        .iter()
        .map(|f| f.kind.as_str())
        .collect::<Vec<_>>()
        .join(",");
    row([
        c.id.chars().take(8).collect(),
        priority_name(c.priority),
        status_name(c.status).into(),
        age,
        due_text(c, now),
        if flags.is_empty() { "-".into() } else { flags },
        if c.assignee.is_empty() {
            "-".into()
        } else {
            c.assignee.clone()
        },
        fit(&c.excerpt, 60),
    ])
}

/// One line per case, for the `watch` feed and the answers to actions.
pub fn case_line(c: &pb::Case) -> String {
    format!(
        "{} {:<12} {:<10} {:<10} tier {} {} msgs  {}",
        priority_name(c.priority),
        status_name(c.status),
        fit(&channel_name(c.channel), 10),
        fit(
            if c.assignee.is_empty() {
                "-"
            } else {
                &c.assignee
            },
            10
        ),
        c.tier,
        c.message_count.max(c.message_ids.len() as u64),
        c.id,
    )
}

/// The JSON form of a case.
pub fn case_json(c: &pb::Case) -> Value {
    json!({
        "id": c.id,
        "status": status_name(c.status),
        "priority": priority_name(c.priority),
        "channel": channel_name(c.channel),
        "visibility": visibility_name(c.visibility),
        "thread_id": c.thread_id,
        "author_id": c.author_id,
        "reasons": c.reasons,
        "flags": c.flags.iter().map(|f| json!({"kind": f.kind, "evidence": f.evidence})).collect::<Vec<_>>(),
        "message_ids": c.message_ids,
        "message_count": c.message_count,
        "linked_case_id": (!c.linked_case_id.is_empty()).then_some(&c.linked_case_id),
        "assignee": (!c.assignee.is_empty()).then_some(&c.assignee),
        "tier": c.tier,
        "created_at": time_text(c.created_at.as_ref()),
        "updated_at": time_text(c.updated_at.as_ref()),
        "claim_due": time_text(c.claim_due.as_ref()),
        "ack_due": time_text(c.ack_due.as_ref()),
        "snoozed_until": time_text(c.snoozed_until.as_ref()),
        "resolution_note": c.resolution_note,
        "excerpt": (!c.excerpt.is_empty()).then_some(&c.excerpt),
    })
}

fn message_json(m: &pb::Message) -> Value {
    let author = m.author.clone().unwrap_or_default();
    json!({
        "id": m.id,
        "external_id": m.external_id,
        "channel": channel_name(m.channel),
        "visibility": visibility_name(m.visibility),
        "at": time_text(m.received_at.as_ref()),
        "text": m.text,
        "author": {"id": author.id, "handle": author.handle, "name": author.name,
                   "followers": author.followers, "verified": author.verified},
    })
}

/// `cases show --json`: the case with its conversation.
pub fn detail_json(r: &pb::GetCaseResponse) -> Value {
    let mut body = case_json(&r.case.clone().unwrap_or_default());
    body["messages"] = r.messages.iter().map(message_json).collect();
    body["replies"] = r
        .replies
        .iter()
        .map(|p| {
            json!({"message_id": p.message_id, "text": p.text, "by": p.by,
                        "connector": p.connector, "at": time_text(p.at.as_ref())})
        })
        .collect();
    body["texts_purged"] = r.texts_purged.into();
    body
}

/// `cases show`: the case as a moderator reads it.
pub fn detail_text(r: &pb::GetCaseResponse, now: OffsetDateTime) -> String {
    let c = r.case.clone().unwrap_or_default();
    let mut out = vec![
        format!(
            "Case {}  {}  {}",
            c.id,
            priority_name(c.priority),
            status_name(c.status)
        ),
        format!(
            "  {} {}, thread {}, {} message(s), tier {}",
            channel_name(c.channel),
            visibility_name(c.visibility),
            c.thread_id,
            c.message_count,
            c.tier
        ),
        format!("  SLA: {}", due_text(&c, now)),
    ];
    if !c.assignee.is_empty() {
        out.push(format!("  Held by: {}", c.assignee));
    }
    if !c.flags.is_empty() {
        out.push("  Flags:".into());
        for f in &c.flags {
            out.push(format!("    {} — evidence: \"{}\"", f.kind, f.evidence));
        }
    }
    if !c.reasons.is_empty() {
        out.push(format!("  Reasons: {}", c.reasons.join(", ")));
    }
    if !c.linked_case_id.is_empty() {
        out.push(format!(
            "  Linked private case: {} (this spills over from it)",
            c.linked_case_id
        ));
    }
    if !c.resolution_note.is_empty() {
        out.push(format!("  Note: {}", c.resolution_note));
    }
    out.push(String::new());
    if r.texts_purged {
        out.push("  (the texts of this case were purged: retention or request)".into());
    }
    for m in &r.messages {
        let a = m.author.clone().unwrap_or_default();
        let who = match (a.name.is_empty(), a.handle.is_empty()) {
            (false, false) => format!("{} @{}", a.name, a.handle),
            (true, false) => format!("@{}", a.handle),
            (false, true) => a.name.clone(),
            (true, true) => a.id.clone(),
        };
        out.push(format!(
            "  [{}] {}{} · {} followers · {}",
            time_text(m.received_at.as_ref()).unwrap_or_default(),
            who,
            if a.verified { " (verified)" } else { "" },
            a.followers,
            channel_name(m.channel),
        ));
        for line in m.text.lines() {
            out.push(format!("    {line}"));
        }
    }
    for p in &r.replies {
        out.push(format!(
            "  [{}] reply by {} via {}:",
            time_text(p.at.as_ref()).unwrap_or_default(),
            p.by,
            p.connector
        ));
        for line in p.text.lines() {
            out.push(format!("    {line}"));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_print_by_their_contract_names() {
        assert_eq!(channel_name(pb::Channel::Line as i32), "line");
        assert_eq!(channel_name(pb::Channel::Whatsapp as i32), "whatsapp");
        assert_eq!(channel_name(999), "unknown");
    }

    #[test]
    fn long_values_keep_their_column() {
        let now = OffsetDateTime::now_utc();
        let case = pb::Case {
            id: "0192f0aa-1111-7000-8000-000000000000".into(),
            priority: pb::Priority::P1 as i32,
            status: pb::CaseStatus::Claimed as i32,
            assignee: "a-moderator-with-a-very-long-name".into(),
            created_at: Some(firebreak_core::wire::timestamp(now)),
            ack_due: Some(firebreak_core::wire::timestamp(
                now - time::Duration::minutes(3),
            )),
            excerpt: "I need help\nnow".into(),
            ..Default::default()
        };
        let row = list_row(&case, now);
        let header = list_header();
        let column =
            |line: &str, needle: &str| line.find(needle).map(|byte| line[..byte].chars().count());
        assert_eq!(
            column(&row, "I need help"),
            column(&header, "EXCERPT"),
            "{header}\n{row}"
        );
        assert!(row.contains("a-moderat…"), "{row}");
        assert!(row.contains("ack 3m LATE"), "{row}");
        assert!(row.starts_with("0192f0aa  P1"), "{row}");
    }

    #[test]
    fn spans_read_like_people_say_them() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h05");
        assert_eq!(span(2 * 86400 + 4 * 3600), "2d04h");
    }
}
