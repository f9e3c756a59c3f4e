//! The pure checks that decide whether a message may get an automatic reply at all,
//! before any budget is spent: loop and spam protection, the platforms' messaging
//! windows, and whether the question is still one the playbook answers.

use std::collections::HashSet;
use std::time::Duration;

use firebreak_core::{Channel, Classification, FirstLine, Message, Route, Visibility};
use firebreak_triage::playbook::ModeSettings;
use time::OffsetDateTime;

/// What happens to a message instead of an automatic reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// Recorded as `ignored` with this reason.
    Ignore(&'static str),
    /// Handed to a human with this reason.
    Escalate(&'static str),
}

/// Messenger and Instagram allow free automated replies 24 h after the user's last
/// message; WhatsApp allows free-form replies only in its 24 h customer-service window.
pub const MESSAGING_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The platform window for automated private replies, if the channel has one.
pub fn messaging_window(channel: Channel, visibility: Visibility) -> Option<Duration> {
    let windowed = matches!(
        channel,
        Channel::Messenger | Channel::Instagram | Channel::Whatsapp | Channel::Facebook
    );
    (windowed && visibility == Visibility::Private).then_some(MESSAGING_WINDOW)
}

/// True while an automated reply is still allowed by the platform.
pub fn inside_window(message: &Message, now: OffsetDateTime) -> bool {
    match messaging_window(message.channel, message.visibility) {
        Some(window) => now - message.sent_at < window,
        None => true,
    }
}

#[derive(Clone, Debug)]
pub struct Guards {
    /// The brand's own accounts, as `channel:id` or a bare id for every channel.
    pub brand_accounts: HashSet<String>,
    /// A public message older than this gets no automatic answer: the conversation
    /// has moved on and a late canned line reads as spam.
    pub stale_public_after: Duration,
}

impl Guards {
    pub fn is_brand(&self, message: &Message) -> bool {
        let id = &message.author.id;
        self.brand_accounts.contains(id)
            || self
                .brand_accounts
                .contains(&format!("{}:{id}", message.channel.as_str()))
    }

    /// Checked on every attempt, first and deferred alike, so a message that waited for
    /// a budget is answered only if it still may be.
    pub fn check(
        &self,
        message: &Message,
        classification: &Classification,
        mode: &ModeSettings,
        now: OffsetDateTime,
    ) -> Verdict {
        if self.is_brand(message) {
            return Verdict::Ignore("own account: no reply to the brand itself");
        }
        if message.author.is_bot {
            return Verdict::Ignore("bot author: no automatic reply to bots");
        }
        if message
            .mail
            .as_ref()
            .is_some_and(|mail| mail.forbids_auto_reply())
        {
            return Verdict::Ignore("auto-submitted or bulk mail");
        }
        if classification.route != Route::Reply {
            return Verdict::Escalate("not routed for an automatic reply");
        }
        let active = classification.reply_set().is_some_and(|set| {
            mode.key_questions.iter().any(|k| k.id == set)
                || match classification.first_line {
                    Some(FirstLine::Acknowledgement) => mode.first_line.acknowledgement.is_some(),
                    Some(FirstLine::Holding) => mode.first_line.holding.is_some(),
                    None => false,
                }
        });
        if !active && classification.first_line == Some(FirstLine::Holding) {
            return Verdict::Ignore("public holding reply no longer in the playbook");
        }
        if !active {
            return Verdict::Escalate("key question no longer answered automatically");
        }
        if !inside_window(message, now) {
            return Verdict::Escalate("outside the platform's 24 h messaging window");
        }
        if message.visibility == Visibility::Public
            && now - message.sent_at > self.stale_public_after
        {
            return Verdict::Ignore("stale public message: the conversation moved on");
        }
        Verdict::Proceed
    }
}
