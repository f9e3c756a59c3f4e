//! The reply decision: may this message get an automatic reply now, and with which
//! words? Guards, then the thread cap and the author cooldown, then the budgets, then
//! the variant and its rendering. Sending and recording are the stage's job
//! (`stage.rs`); this part is what the benchmark measures.

use std::sync::Arc;
use std::time::Duration;

use firebreak_core::{Classification, FirstLine, Message, Visibility};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_triage::playbook::Budgets;
use time::OffsetDateTime;

use crate::config::ReplyConfig;
use crate::local::LocalLimits;
use crate::policy::Verdict;
use crate::port::{Budget, Grant, Ledger, Rate, StateError, Ticket};
use crate::select::{push_recent, seed_of, select_variant};
use crate::{keys, render};

/// What to do with a message now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Send {
        /// `question.language.index`, as recorded in the outcome.
        variant: String,
        text: String,
    },
    /// Over budget: try again after `delay`.
    Defer {
        delay: Duration,
        reason: &'static str,
    },
    Ignore(&'static str),
    Escalate(&'static str),
}

pub struct ReplyEngine {
    pub budget: Arc<dyn Budget>,
    pub ledger: Arc<dyn Ledger>,
    pub local: Arc<LocalLimits>,
    pub settings: LiveSettings,
    pub config: ReplyConfig,
}

impl std::fmt::Debug for ReplyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyEngine").finish_non_exhaustive()
    }
}

/// A line ticket: the message, by when it was received.
pub fn ticket(message: &Message) -> Ticket {
    Ticket {
        member: message.id.to_string(),
        age_us: (message.received_at.unix_timestamp_nanos() / 1000).max(0) as u64,
    }
}

impl ReplyEngine {
    pub fn new(
        budget: Arc<dyn Budget>,
        ledger: Arc<dyn Ledger>,
        settings: LiveSettings,
        config: ReplyConfig,
    ) -> Self {
        ReplyEngine {
            local: Arc::new(LocalLimits::new(config.headroom)),
            budget,
            ledger,
            settings,
            config,
        }
    }

    fn rate(&self, per_sec: f64) -> Option<Rate> {
        Rate::per_second(per_sec * self.config.headroom, 1)
    }

    /// Takes one reply from the channel's and the global budget, for a message in
    /// line by `ticket`. Shared by automatic and manual replies.
    pub async fn take_budget(
        &self,
        budgets: &Budgets,
        channel: firebreak_core::Channel,
        recipient: &str,
        ticket: &Ticket,
    ) -> Result<Option<Grant>, StateError> {
        let (Some(channel_rate), Some(global_rate)) = (
            self.rate(budgets.channel_per_sec(channel)),
            self.rate(budgets.global_per_sec),
        ) else {
            return Ok(None);
        };
        if let Some(wait) = self.local.check_channel(budgets, channel) {
            return Ok(Some(Grant::Wait(wait)));
        }
        let channel_key = keys::channel_budget(channel);
        // The line holds ceil(pace) messages at the front, enough to use every slot.
        let front = (budgets.channel_per_sec(channel) * self.config.headroom).ceil() as u32;
        match self
            .budget
            .acquire_queued(&channel_key, channel_rate, ticket, front.max(1))
            .await?
        {
            Grant::Granted => {}
            wait => return Ok(Some(wait)),
        }
        if let wait @ Grant::Wait(_) = self
            .budget
            .acquire(keys::GLOBAL_BUDGET, global_rate)
            .await?
        {
            self.budget.refund(&channel_key, channel_rate).await?;
            return Ok(Some(wait));
        }
        // The platform's pace per chat or user, checked last so that a message merely
        // waiting in line does not use it up.
        if let Some(wait) = self.local.check_recipient(channel, recipient) {
            self.budget.refund(&channel_key, channel_rate).await?;
            self.budget.refund(keys::GLOBAL_BUDGET, global_rate).await?;
            return Ok(Some(Grant::Wait(wait)));
        }
        Ok(Some(Grant::Granted))
    }

    /// Picks the variant for `message`, never one its thread already saw, spreading
    /// public replies over the channel's recent ones. Concurrent pickers are settled
    /// by compare-and-swap on both the thread and the channel ring.
    async fn choose_variant(
        &self,
        message: &Message,
        question: &str,
        variants: usize,
        language: firebreak_core::Language,
    ) -> Result<Option<usize>, StateError> {
        let thread = keys::thread(message);
        let group = keys::group(question, language);
        let member = message.id.to_string();
        let ring = keys::ring(message.channel, question, language);
        let public = message.visibility == Visibility::Public;
        for attempt in 0u64..16 {
            let taken = self.ledger.thread_variants(&thread, &group).await?;
            if let Some((own, _)) = taken.iter().find(|(_, holder)| *holder == member) {
                return Ok(Some(*own));
            }
            let used: Vec<usize> = taken.iter().map(|(v, _)| *v).collect();
            let recent = if public {
                self.ledger.recent(&ring).await?
            } else {
                Default::default()
            };
            let Some(variant) = select_variant(
                variants,
                &used,
                &recent.variants,
                seed_of(&member) + attempt,
            ) else {
                return Ok(None);
            };
            if public {
                let ring_after = push_recent(&recent.variants, variant, self.config.recent_window);
                if !self
                    .ledger
                    .swap_recent(&ring, recent.version, &ring_after)
                    .await?
                {
                    continue;
                }
            }
            if self
                .ledger
                .use_thread_variant(&thread, &group, variant, &member)
                .await?
            {
                return Ok(Some(variant));
            }
        }
        // Sixteen lost races in a row: a human is a better answer than a repeat.
        Ok(None)
    }

    /// Decides what happens to `message` now. Reservations (thread slot, author
    /// cooldown) are idempotent per message, so a redelivery decides the same way, and
    /// are released when the message will not be answered.
    pub async fn decide(
        &self,
        message: &Message,
        classification: &Classification,
        now: OffsetDateTime,
    ) -> Result<Decision, StateError> {
        let settings = self.settings.current();
        let crisis = settings.crisis_active();
        let playbook = settings.playbook();
        let mode = playbook.mode(crisis);
        match self.config.guards.check(message, classification, mode, now) {
            Verdict::Proceed => {}
            Verdict::Ignore(why) => return Ok(Decision::Ignore(why)),
            Verdict::Escalate(why) => return Ok(Decision::Escalate(why)),
        }
        // A key question's id, or a first-line reply set: both go through the same
        // thread cap, author cooldown, budgets and variation.
        let Some(question) = classification.reply_set() else {
            return Ok(Decision::Escalate("no key question"));
        };
        let acknowledgement = classification.first_line == Some(FirstLine::Acknowledgement);
        let budgets = &mode.budgets;
        let member = message.id.to_string();
        let thread = keys::thread(message);
        if !self
            .budget
            .reserve_thread(&thread, &member, budgets.thread_cap)
            .await?
        {
            return Ok(Decision::Escalate(
                "thread reached its automatic reply cap: a human takes it",
            ));
        }
        let author = keys::author(message, question);
        let cooldown = match (acknowledgement, &mode.first_line.acknowledgement) {
            (true, Some(ack)) => Duration::from_secs(ack.window_secs),
            _ => Duration::from_secs(budgets.author_cooldown_secs),
        };
        if !self
            .budget
            .reserve_author(&author, &member, cooldown)
            .await?
        {
            self.budget.release_thread(&thread, &member).await?;
            return Ok(Decision::Ignore(if acknowledgement {
                "already acknowledged within the window: counted towards a human"
            } else {
                "author cooldown: already answered on this question"
            }));
        }
        let ticket = ticket(message);
        match self
            .take_budget(budgets, message.channel, &message.author.id, &ticket)
            .await?
        {
            None if classification.first_line.is_some() => {
                // A first-line reply is a courtesy; without budget the message is
                // simply not answered, as it would be without a first line.
                self.budget.release_author(&author, &member).await?;
                return Ok(Decision::Ignore(
                    "no automatic reply budget on this channel for a first-line reply",
                ));
            }
            None => {
                self.budget.release_author(&author, &member).await?;
                return Ok(Decision::Escalate(
                    "no automatic reply budget on this channel",
                ));
            }
            Some(Grant::Wait(delay)) => {
                return Ok(Decision::Defer {
                    delay,
                    reason: "over budget",
                });
            }
            Some(Grant::Granted) => {}
        }
        let language = classification.language;
        let count = playbook.reply_variants(crisis, question, language).len();
        let Some(index) = self
            .choose_variant(message, question, count, language)
            .await?
        else {
            self.budget.release_author(&author, &member).await?;
            return Ok(Decision::Escalate(
                "every reply variant was already used in this thread",
            ));
        };
        let vars = render::vars(message, render::case_ref(message.id));
        let Some(text) = playbook.render_reply(crisis, question, language, index, &vars) else {
            self.budget.release_author(&author, &member).await?;
            return Ok(Decision::Escalate(
                "no reply template for this question and language",
            ));
        };
        Ok(Decision::Send {
            variant: format!("{}.{index}", keys::group(question, language)),
            text: render::tidy(&text),
        })
    }

    /// Takes a message out of its channel's budget line.
    pub async fn release_line(&self, message: &Message) -> Result<(), StateError> {
        self.budget
            .leave_queue(&keys::channel_budget(message.channel), &ticket(message))
            .await
    }

    /// Frees what a message reserved when it ends without an automatic reply.
    pub async fn release(
        &self,
        message: &Message,
        classification: &Classification,
        thread_too: bool,
    ) -> Result<(), StateError> {
        let member = message.id.to_string();
        if let Some(question) = classification.reply_set() {
            self.budget
                .release_author(&keys::author(message, question), &member)
                .await?;
        }
        if thread_too {
            self.budget
                .release_thread(&keys::thread(message), &member)
                .await?;
        }
        self.release_line(message).await
    }
}
