//! What the stages record. Every label value passes through [`labels::bounded`] or a
//! fixed set, so a caller cannot create series without bound.

use std::time::Duration;

use super::labels::{self, MAX_KEY_QUESTIONS, bounded};
use super::{Labels, Metrics};

fn one(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_string())]
}

fn two(a: &'static str, av: &str, b: &'static str, bv: &str) -> Labels {
    vec![(a, av.to_string()), (b, bv.to_string())]
}

/// The stream a durable consumer reads, for the lag gauges.
fn stream_of(consumer: &str) -> Option<&'static str> {
    labels::CONSUMERS
        .iter()
        .find(|(_, c)| *c == consumer)
        .map(|(s, _)| *s)
}

/// What the sampler read about one durable consumer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerLag {
    pub pending: u64,
    pub ack_pending: u64,
    pub redelivered: u64,
}

impl Metrics {
    pub fn ingested(&self, source: &str, result: &'static str) {
        self.inner
            .ingest
            .get_or_create(&two("source", source, "result", result))
            .inc();
    }

    /// An accepted message sent down the urgent lane, by the P1 kind it looks like.
    pub fn urgent(&self, kind: &str) {
        self.inner
            .urgent
            .get_or_create(&one("kind", bounded(kind, labels::URGENT_KINDS)))
            .inc();
    }

    /// A refused request. Webhook refusals are also counted per platform and reason in
    /// `webhook_rejected`, the family the alerts and dashboard read.
    pub fn rejected(&self, source: &str, reason: &str) {
        self.inner
            .rejected
            .get_or_create(&two("source", source, "reason", reason))
            .inc();
        if labels::WEBHOOK_PLATFORMS.contains(&source) {
            let reason = bounded(reason, labels::WEBHOOK_REJECT_REASONS);
            self.inner
                .webhook_rejected
                .get_or_create(&two("platform", source, "reason", reason))
                .inc();
        }
    }

    pub fn skipped(&self, source: &str, reason: &str) {
        self.inner
            .skipped
            .get_or_create(&two("source", source, "reason", reason))
            .inc();
    }

    /// An API call refused for its token. `forbidden` is false for a 401.
    pub fn auth_rejected(&self, transport: &'static str, forbidden: bool) {
        let reason = if forbidden {
            "forbidden"
        } else {
            "unauthenticated"
        };
        self.inner
            .auth_rejected
            .get_or_create(&two("transport", transport, "reason", reason))
            .inc();
    }

    pub fn outcome(&self, outcome: &str) {
        self.inner
            .outcomes
            .get_or_create(&one("outcome", outcome))
            .inc();
    }

    /// A terminal outcome, with the time since ingest accepted the message.
    pub fn outcome_after(&self, outcome: &str, since_accepted: Duration) {
        self.outcome(outcome);
        self.inner
            .end_to_end
            .get_or_create(&one("outcome", bounded(outcome, labels::OUTCOMES)))
            .observe(since_accepted.as_secs_f64());
    }

    pub fn dead_lettered(&self, stage: &str) {
        self.inner
            .dead_letters
            .get_or_create(&one("stage", stage))
            .inc();
    }

    pub fn redelivered(&self, stage: &str) {
        self.inner
            .redeliveries
            .get_or_create(&one("stage", stage))
            .inc();
    }

    /// The sweeper acted on an accepted message with no outcome: `dead_lettered`, or
    /// `no_record` (indexed, but its record is gone).
    pub fn unfinished_swept(&self, result: &str) {
        let result = bounded(result, labels::SWEPT_RESULTS);
        self.inner
            .unfinished_swept
            .get_or_create(&one("result", result))
            .inc();
    }

    pub fn unfinished_swept_total(&self) -> u64 {
        labels::SWEPT_RESULTS
            .iter()
            .map(|r| {
                self.inner
                    .unfinished_swept
                    .get_or_create(&one("result", r))
                    .get()
            })
            .sum()
    }

    pub fn dlq_replayed(&self, stage: &str) {
        let stage = bounded(stage, labels::STAGES);
        self.inner
            .dlq_replays
            .get_or_create(&one("stage", stage))
            .inc();
    }

    pub fn event(&self, kind: &str) {
        self.inner.events.get_or_create(&one("kind", kind)).inc();
    }

    pub fn token_reload(&self, applied: bool) {
        let result = if applied { "applied" } else { "invalid" };
        self.inner
            .token_reloads
            .get_or_create(&one("result", result))
            .inc();
    }

    /// An automatic reply sent; `key_question` is `None` for a first-line reply.
    pub fn reply_sent(&self, channel: &str, key_question: Option<&str>) {
        let question = match key_question {
            None => "first_line".to_string(),
            Some(q) => self.key_question_label(q),
        };
        self.inner
            .replies
            .get_or_create(&two(
                "channel",
                bounded(channel, labels::CHANNELS),
                "key_question",
                &question,
            ))
            .inc();
    }

    /// Creates the reply series of the active playbook's key questions at 0.
    pub fn register_key_questions<'a>(&self, questions: impl IntoIterator<Item = &'a str>) {
        for question in questions {
            let label = self.key_question_label(question);
            for channel in labels::CHANNELS {
                let _ = self.inner.replies.get_or_create(&two(
                    "channel",
                    channel,
                    "key_question",
                    &label,
                ));
            }
        }
    }

    fn key_question_label(&self, question: &str) -> String {
        let mut known = self.inner.key_questions.lock();
        if known.iter().any(|q| q == question) {
            return question.to_string();
        }
        // Playbook ids are `[a-z0-9_]+`; anything else is not worth a series.
        let well_formed = !question.is_empty()
            && question.len() <= 64
            && question
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if well_formed && known.len() < MAX_KEY_QUESTIONS {
            known.push(question.to_string());
            return question.to_string();
        }
        "other".to_string()
    }

    pub fn budget_granted(&self, channel: &str) {
        let channel = bounded(channel, labels::CHANNELS);
        self.inner
            .budget_grants
            .get_or_create(&one("channel", channel))
            .inc();
    }

    pub fn budget_wait(&self, channel: &str) {
        let channel = bounded(channel, labels::CHANNELS);
        self.inner
            .budget_waits
            .get_or_create(&one("channel", channel))
            .inc();
    }

    /// A message's first deferral (later ones of the same message are not counted).
    pub fn deferred(&self, channel: &str) {
        let channel = bounded(channel, labels::CHANNELS);
        self.inner
            .deferrals
            .get_or_create(&one("channel", channel))
            .inc();
        self.event("reply_deferred");
    }

    /// An escalation, counted once under each flag it carries (or `none`).
    pub fn escalated<'a>(&self, flags: impl IntoIterator<Item = &'a str>) {
        let mut any = false;
        for flag in flags {
            any = true;
            let flag = bounded(flag, labels::FLAGS);
            self.inner
                .escalations
                .get_or_create(&one("flag", flag))
                .inc();
        }
        if !any {
            self.inner
                .escalations
                .get_or_create(&one("flag", "none"))
                .inc();
        }
    }

    pub fn connector_error(&self, channel: &str, kind: &str) {
        let labels = two(
            "channel",
            bounded(channel, labels::CHANNELS),
            "kind",
            bounded(kind, labels::CONNECTOR_ERRORS),
        );
        self.inner.connector_errors.get_or_create(&labels).inc();
    }

    /// An SLA breach; `tier` counts from 1 at the first breach.
    pub fn sla_breached(&self, priority: &str, tier: u32) {
        let tier = labels::SLA_TIERS[(tier.max(1) as usize - 1).min(labels::SLA_TIERS.len() - 1)];
        let priority = bounded(priority, labels::PRIORITIES);
        self.inner
            .sla_breaches
            .get_or_create(&two("priority", priority, "tier", tier))
            .inc();
        self.event("sla_breach");
    }

    pub fn set_crisis_mode(&self, active: bool) {
        self.inner.crisis_mode.set(i64::from(active));
    }

    /// Open cases by (priority, status); every known pair missing from `counts` is 0.
    pub fn set_open_cases(&self, counts: &[((&str, &str), u64)]) {
        for priority in labels::PRIORITIES {
            for status in labels::OPEN_STATUSES {
                let n = counts
                    .iter()
                    .filter(|((p, s), _)| p == priority && s == status)
                    .map(|(_, n)| *n)
                    .sum::<u64>();
                self.inner
                    .open_cases
                    .get_or_create(&two("priority", priority, "status", status))
                    .set(n as i64);
            }
        }
    }

    pub fn set_budget(&self, channel: &str, per_second: f64, waiting: u64) {
        let channel = bounded(channel, labels::CHANNELS);
        self.inner
            .budget_per_second
            .get_or_create(&one("channel", channel))
            .set(per_second);
        self.inner
            .budget_waiting
            .get_or_create(&one("channel", channel))
            .set(waiting as i64);
    }

    pub fn set_consumer_lag(&self, consumer: &str, lag: ConsumerLag) {
        let Some(stream) = stream_of(consumer) else {
            return;
        };
        let labels = two("stream", stream, "consumer", consumer);
        let inner = &self.inner;
        inner
            .consumer_pending
            .get_or_create(&labels)
            .set(lag.pending as i64);
        inner
            .consumer_ack_pending
            .get_or_create(&labels)
            .set(lag.ack_pending as i64);
        inner
            .consumer_redelivered
            .get_or_create(&labels)
            .set(lag.redelivered as i64);
    }

    pub fn set_stream_usage(&self, stream: &str, bytes: u64, max_bytes: u64) {
        let stream = bounded(stream, labels::STREAMS);
        self.inner
            .stream_bytes
            .get_or_create(&one("stream", stream))
            .set(bytes as i64);
        self.inner
            .stream_max_bytes
            .get_or_create(&one("stream", stream))
            .set(max_bytes as i64);
    }

    /// Counts dead letters across stages, for tests and the health summary.
    pub fn dead_letter_total(&self) -> u64 {
        labels::STAGES
            .iter()
            .map(|s| {
                self.inner
                    .dead_letters
                    .get_or_create(&one("stage", s))
                    .get()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_there_at_zero_before_any_event() {
        let text = Metrics::new().render();
        for line in [
            "firebreak_dead_letters_total{stage=\"reply\"} 0",
            "firebreak_crisis_mode 0",
            "firebreak_open_cases{priority=\"P1\",status=\"open\"} 0",
            "firebreak_sla_breaches_total{priority=\"P4\",tier=\"1\"} 0",
            "firebreak_webhook_rejected_total{platform=\"meta\",reason=\"mismatch\"} 0",
            "firebreak_escalations_total{flag=\"self_harm\"} 0",
        ] {
            assert!(text.contains(line), "missing {line}");
        }
    }

    #[test]
    fn the_classic_format_names_counters_with_their_total_suffix() {
        let metrics = Metrics::new();
        metrics.outcome("replied");
        let text = metrics.render_text();
        assert!(text.contains("# TYPE firebreak_outcomes_total counter"));
        assert!(text.contains("# HELP firebreak_outcomes_total Terminal outcomes"));
        assert!(text.contains("firebreak_outcomes_total{outcome=\"replied\"} 1"));
        assert!(text.contains("# TYPE firebreak_crisis_mode gauge"));
        assert!(text.contains("# TYPE firebreak_stage_seconds histogram"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        assert!(
            metrics.render().ends_with("# EOF\n"),
            "OpenMetrics unchanged"
        );
    }

    #[test]
    fn labels_stay_bounded() {
        let metrics = Metrics::new();
        for i in 0..200 {
            metrics.reply_sent("telegram", Some(&format!("q{i}")));
        }
        metrics.connector_error("myspace", "exploded");
        let text = metrics.render();
        let questions = text
            .lines()
            .filter(|l| l.starts_with("firebreak_replies_total{channel=\"telegram\""))
            .count();
        assert!(questions <= MAX_KEY_QUESTIONS + 2, "{questions} series");
        assert!(
            text.contains("firebreak_connector_errors_total{channel=\"other\",kind=\"other\"} 1")
        );
    }
}
