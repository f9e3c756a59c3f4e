//! The case workflow as pure functions: given a case and what happened, the next case
//! and the event to log. No I/O, so both store adapters share exactly one set of rules.
//!
//! ```text
//!  open ──claim──▶ claimed ──ack──▶ acknowledged ──resolve──▶ resolved
//!   ▲  ◀─release──┘                                             │
//!   └──────────── reopen (the author writes again) ─────────────┘
//!  any unresolved ──snooze──▶ snoozed ──(time up or a new message)──▶ back where it was
//! ```

use std::time::Duration;

use firebreak_core::{Classification, Message};
use time::OffsetDateTime;

use crate::model::{Case, CaseError, CaseEventKind, CaseStatus, MAX_MESSAGE_IDS};

/// The SLA of one priority, from the playbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaTarget {
    /// Time from (re)opening to a claim.
    pub claim: Duration,
    /// Time from (re)opening to an acknowledgement.
    pub ack: Duration,
    /// Who is notified, in order, at each breach. Never empty (the playbook checks).
    pub tiers: Vec<String>,
}

impl SlaTarget {
    pub fn tier_name(&self, tier: u32) -> &str {
        let last = self.tiers.len().saturating_sub(1);
        self.tiers
            .get((tier as usize).min(last))
            .map(String::as_str)
            .unwrap_or("moderators")
    }

    fn last_tier(&self) -> u32 {
        self.tiers.len().saturating_sub(1) as u32
    }
}

/// A case and the event that produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub case: Case,
    pub event: CaseEventKind,
}

/// Which SLA deadline slipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreachKind {
    Claim,
    Ack,
}

impl BreachKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreachKind::Claim => "claim",
            BreachKind::Ack => "ack",
        }
    }
}

fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now + time::Duration::try_from(d).unwrap_or(time::Duration::DAY)
}

fn start_sla_clock(case: &mut Case, now: OffsetDateTime, sla: &SlaTarget) {
    case.opened_at = now;
    case.claim_due = Some(after(now, sla.claim));
    case.ack_due = Some(after(now, sla.ack));
}

fn add_message_facts(case: &mut Case, message: &Message, classification: &Classification) {
    if case.message_ids.contains(&message.id) {
        return;
    }
    case.message_ids.push(message.id);
    if case.message_ids.len() > MAX_MESSAGE_IDS {
        case.message_ids.remove(0);
    }
    case.message_count += 1;
    case.priority = case.priority.min(classification.priority);
    for reason in &classification.reasons {
        if !case.reasons.contains(reason) {
            case.reasons.push(reason.clone());
        }
    }
    for flag in &classification.flags {
        if !case.flags.iter().any(|f| f.kind == flag.kind) {
            case.flags.push(flag.clone());
        }
    }
    if case.linked_case_id.is_none() {
        case.linked_case_id = classification.linked_case_id.clone();
    }
}

/// A new case for the first escalated message of a thread.
pub fn open(
    id: String,
    message: &Message,
    classification: &Classification,
    now: OffsetDateTime,
    sla: &SlaTarget,
) -> Transition {
    let mut case = Case {
        id,
        version: 0,
        status: CaseStatus::Open,
        priority: classification.priority,
        channel: message.channel,
        visibility: message.visibility,
        thread_id: message.thread_id.clone(),
        author_id: message.author.id.clone(),
        reasons: Vec::new(),
        flags: Vec::new(),
        message_ids: Vec::new(),
        message_count: 0,
        linked_case_id: None,
        assignee: None,
        tier: 0,
        breaches: 0,
        created_at: now,
        updated_at: now,
        opened_at: now,
        claim_due: None,
        ack_due: None,
        snoozed_until: None,
        resolved_at: None,
        resolution_note: String::new(),
    };
    start_sla_clock(&mut case, now, sla);
    add_message_facts(&mut case, message, classification);
    Transition {
        case,
        event: CaseEventKind::Opened,
    }
}

/// Adds a message to an existing case. A resolved case reopens (the author wrote
/// again); a snoozed one wakes up. A message that raises the priority restarts the SLA
/// clock at the stricter target if that is sooner.
pub fn add_message(
    case: &Case,
    message: &Message,
    classification: &Classification,
    now: OffsetDateTime,
    sla: &SlaTarget,
) -> Transition {
    let mut next = case.clone();
    let previous_priority = next.priority;
    add_message_facts(&mut next, message, classification);
    next.updated_at = now;
    let event = match case.status {
        CaseStatus::Resolved => {
            next.status = CaseStatus::Open;
            next.assignee = None;
            next.tier = 0;
            next.resolved_at = None;
            next.resolution_note.clear();
            start_sla_clock(&mut next, now, sla);
            CaseEventKind::Reopened
        }
        CaseStatus::Snoozed => {
            wake(&mut next, now, sla);
            CaseEventKind::Reopened
        }
        _ => {
            if next.priority < previous_priority {
                let claim = after(now, sla.claim);
                let ack = after(now, sla.ack);
                next.claim_due = Some(next.claim_due.map_or(claim, |d| d.min(claim)));
                next.ack_due = Some(next.ack_due.map_or(ack, |d| d.min(ack)));
            }
            CaseEventKind::Updated
        }
    };
    Transition { case: next, event }
}

fn wake(case: &mut Case, now: OffsetDateTime, sla: &SlaTarget) {
    case.snoozed_until = None;
    if case.assignee.is_some() {
        case.status = CaseStatus::Claimed;
        case.claim_due = None;
        case.ack_due = Some(after(now, sla.ack));
    } else {
        case.status = CaseStatus::Open;
        start_sla_clock(case, now, sla);
    }
}

fn owned_by_other(case: &Case, who: &str) -> Result<(), CaseError> {
    match &case.assignee {
        Some(owner) if owner != who => Err(CaseError::Conflict(format!(
            "case {} is claimed by {owner}",
            case.id
        ))),
        _ => Ok(()),
    }
}

fn not_resolved(case: &Case) -> Result<(), CaseError> {
    if case.is_resolved() {
        return Err(CaseError::Conflict(format!("case {} is resolved", case.id)));
    }
    Ok(())
}

/// `None` when the moderator already holds it (a retried claim is not an error).
pub fn claim(case: &Case, who: &str, now: OffsetDateTime) -> Result<Option<Transition>, CaseError> {
    not_resolved(case)?;
    owned_by_other(case, who)?;
    if case.assignee.as_deref() == Some(who) && case.status != CaseStatus::Snoozed {
        return Ok(None);
    }
    let mut next = case.clone();
    next.assignee = Some(who.to_string());
    next.status = CaseStatus::Claimed;
    next.snoozed_until = None;
    next.claim_due = None;
    next.updated_at = now;
    Ok(Some(Transition {
        case: next,
        event: CaseEventKind::Claimed,
    }))
}

/// Only the moderator holding the case acknowledges it.
pub fn acknowledge(
    case: &Case,
    who: &str,
    now: OffsetDateTime,
) -> Result<Option<Transition>, CaseError> {
    not_resolved(case)?;
    owned_by_other(case, who)?;
    if case.assignee.is_none() {
        return Err(CaseError::Conflict(format!(
            "case {} must be claimed before it is acknowledged",
            case.id
        )));
    }
    if case.status == CaseStatus::Acknowledged {
        return Ok(None);
    }
    let mut next = case.clone();
    next.status = CaseStatus::Acknowledged;
    next.snoozed_until = None;
    next.ack_due = None;
    next.updated_at = now;
    Ok(Some(Transition {
        case: next,
        event: CaseEventKind::Acknowledged,
    }))
}

/// Only the moderator holding the case resolves it, and always with a note: a case
/// nobody took, or closed without a word, cannot be accounted for.
pub fn resolve(
    case: &Case,
    who: &str,
    note: &str,
    now: OffsetDateTime,
) -> Result<Transition, CaseError> {
    not_resolved(case)?;
    owned_by_other(case, who)?;
    if case.assignee.is_none() {
        return Err(CaseError::Conflict(format!(
            "case {} must be claimed before it is resolved",
            case.id
        )));
    }
    if note.trim().is_empty() {
        return Err(CaseError::Invalid("note: a resolution needs a note".into()));
    }
    let mut next = case.clone();
    next.status = CaseStatus::Resolved;
    next.assignee = Some(who.to_string());
    next.resolution_note = note.to_string();
    next.resolved_at = Some(now);
    next.claim_due = None;
    next.ack_due = None;
    next.snoozed_until = None;
    next.updated_at = now;
    Ok(Transition {
        case: next,
        event: CaseEventKind::Resolved,
    })
}

/// Hands the case back to the queue; its SLA clock starts again.
pub fn release(
    case: &Case,
    who: &str,
    now: OffsetDateTime,
    sla: &SlaTarget,
) -> Result<Transition, CaseError> {
    not_resolved(case)?;
    owned_by_other(case, who)?;
    if case.assignee.is_none() {
        return Err(CaseError::Conflict(format!(
            "case {} is not claimed",
            case.id
        )));
    }
    let mut next = case.clone();
    next.assignee = None;
    next.status = CaseStatus::Open;
    next.snoozed_until = None;
    start_sla_clock(&mut next, now, sla);
    next.updated_at = now;
    Ok(Transition {
        case: next,
        event: CaseEventKind::Released,
    })
}

/// A moderator takes a resolved case back to the queue (unassigned, SLA clock
/// restarted), or wakes a snoozed one before its time.
pub fn reopen(case: &Case, now: OffsetDateTime, sla: &SlaTarget) -> Result<Transition, CaseError> {
    let mut next = case.clone();
    next.updated_at = now;
    match case.status {
        CaseStatus::Resolved => {
            next.status = CaseStatus::Open;
            next.assignee = None;
            next.tier = 0;
            next.resolved_at = None;
            next.resolution_note.clear();
            start_sla_clock(&mut next, now, sla);
        }
        CaseStatus::Snoozed => wake(&mut next, now, sla),
        _ => {
            return Err(CaseError::Conflict(format!(
                "case {} is {}, not resolved or snoozed",
                case.id,
                case.status.as_str()
            )));
        }
    }
    Ok(Transition {
        case: next,
        event: CaseEventKind::Reopened,
    })
}

/// Parks the case until `until`; no SLA runs meanwhile. A new message wakes it early.
pub fn snooze(
    case: &Case,
    who: &str,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Transition, CaseError> {
    not_resolved(case)?;
    owned_by_other(case, who)?;
    if until <= now {
        return Err(CaseError::Invalid("snooze must end in the future".into()));
    }
    let mut next = case.clone();
    next.status = CaseStatus::Snoozed;
    next.snoozed_until = Some(until);
    next.updated_at = now;
    Ok(Transition {
        case: next,
        event: CaseEventKind::Snoozed,
    })
}

/// What the SLA timer does with a case whose deadline came. `None` when nothing is due
/// (another replica fired it first, or the case moved on), which makes firing
/// idempotent. On a breach, the case climbs one tier and the deadline re-arms for the
/// next tier, until the last tier has been notified.
pub fn on_deadline(
    case: &Case,
    now: OffsetDateTime,
    sla: &SlaTarget,
) -> Option<(Transition, Option<BreachKind>)> {
    let due = case.next_deadline()?;
    if due > now {
        return None;
    }
    let mut next = case.clone();
    next.updated_at = now;
    if case.status == CaseStatus::Snoozed {
        wake(&mut next, now, sla);
        return Some((
            Transition {
                case: next,
                event: CaseEventKind::Reopened,
            },
            None,
        ));
    }
    let claim_slipped = case.status == CaseStatus::Open && case.claim_due.is_some_and(|d| d <= now);
    let kind = if claim_slipped {
        BreachKind::Claim
    } else {
        BreachKind::Ack
    };
    next.breaches += 1;
    next.tier = (case.tier + 1).min(sla.last_tier().max(case.tier));
    let rearm = (next.tier < sla.last_tier()).then(|| {
        after(
            now,
            match kind {
                BreachKind::Claim => sla.claim,
                BreachKind::Ack => sla.ack.saturating_sub(sla.claim).max(sla.claim),
            },
        )
    });
    match kind {
        BreachKind::Claim => next.claim_due = rearm,
        BreachKind::Ack => next.ack_due = rearm,
    }
    // A claim breach with the ack deadline also past would otherwise fire again at
    // once; one breach per tick is enough, the ack deadline waits for the re-armed one.
    if kind == BreachKind::Claim
        && let (Some(ack), Some(claim)) = (next.ack_due, next.claim_due)
        && ack < claim
    {
        next.ack_due = Some(claim);
    }
    if kind == BreachKind::Claim && rearm.is_none() && next.ack_due.is_some_and(|d| d <= now) {
        next.ack_due = None;
    }
    Some((
        Transition {
            case: next,
            event: CaseEventKind::Escalated,
        },
        Some(kind),
    ))
}

#[cfg(test)]
mod tests;
