//! The reply decision: may this message get an automatic reply now, and with which
//! words? Guards, then the thread cap and the author cooldown, then the budgets, then
//! the variant and its rendering. Sending and recording are the stage's job
//! (`stage.rs`); this part is what the benchmark measures.

use std::sync::Arc;
use std::time::Duration;

use firebreak_core::{Channel, Classification, FirstLine, Message, Visibility};
use firebreak_pipeline::settings::LiveSettings;
use firebreak_triage::playbook::Budgets;
use time::OffsetDateTime;

use crate::config::ReplyConfig;
use crate::local::LocalLimits;
use crate::policy::Verdict;
use crate::port::{
    Budget, Claim, ClaimState, Grant, Ledger, Line, Rate, ReplyState, Reserve, Reserved,
    StateError, Take, Taken, Ticket, VariantQuery, VariantView,
};
use crate::select::{push_recent, seed_of, select_variant};
use crate::{keys, render};

/// What to do with a message now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Send {
        /// `question.language.index`, as recorded in the outcome.
        variant: String,
        text: String,
        /// How long the message slept in the worker for its budget first (see
        /// `ReplyConfig::inline_wait`): zero when it was granted at once.
        slept: Duration,
    },
    /// Over budget: try again after `delay`.
    Defer {
        delay: Duration,
        reason: &'static str,
    },
    Ignore(&'static str),
    Escalate(&'static str),
    /// Another delivery of the message claimed it first: reconcile with that claim.
    Claimed(Claim),
}

/// What [`ReplyEngine::choose_and_claim`] came to.
enum Chosen {
    Claimed(Claim),
    Existing(Claim),
    NoneLeft,
    NoTemplate,
}

/// Pace at which one chat may get replies on `channel`: a public Telegram chat is a
/// group (20 a minute), any other chat about one a second, a WhatsApp user one per 6 s.
pub fn recipient_interval(channel: Channel, visibility: Visibility) -> Duration {
    match (channel, visibility) {
        (Channel::Whatsapp, _) => Duration::from_secs(6),
        (Channel::Telegram, Visibility::Public) => Duration::from_secs(3),
        _ => Duration::from_secs(1),
    }
}

/// Who a reply is paced for: the chat it is posted in (a group or a public thread as a
/// whole, or the one person of a private chat), on its channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub channel: Channel,
    pub visibility: Visibility,
    pub chat: String,
}

impl Recipient {
    pub fn of(message: &Message) -> Self {
        Recipient {
            channel: message.channel,
            visibility: message.visibility,
            chat: keys::recipient(message),
        }
    }

    /// The cluster-wide pace's budget key.
    pub fn budget_key(&self) -> String {
        keys::recipient_budget(self.channel, &self.chat)
    }

    /// One reply per [`recipient_interval`], no burst, on Redis time: every replica
    /// shares the one schedule.
    pub fn rate(&self) -> Rate {
        let emission_us = recipient_interval(self.channel, self.visibility)
            .as_micros()
            .max(1) as u64;
        Rate {
            emission_us,
            tolerance_us: 0,
        }
    }
}

pub struct ReplyEngine {
    /// Both ports on one store, for the steps that merge them.
    pub state: Arc<dyn ReplyState>,
    pub budget: Arc<dyn Budget>,
    pub ledger: Arc<dyn Ledger>,
    pub local: Arc<LocalLimits>,
    pub settings: LiveSettings,
    pub config: ReplyConfig,
    /// Messages that may sleep out a short budget wait at once in this process; the
    /// rest defer through the bus, so that one slow channel's line never fills every
    /// worker slot and holds up the other channels.
    sleepers: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for ReplyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyEngine").finish_non_exhaustive()
    }
}

/// What a message reserves before its budgets: a slot in its thread's cap and the
/// author's one reply on the question.
#[derive(Clone, Debug)]
pub struct Reservation {
    pub member: String,
    pub thread: String,
    pub thread_cap: u32,
    pub author: String,
    pub cooldown: Duration,
}

impl Reservation {
    pub fn reserve(&self) -> Reserve<'_> {
        Reserve {
            message: &self.member,
            thread: &self.thread,
            thread_cap: self.thread_cap,
            author: &self.author,
            cooldown: self.cooldown,
        }
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
    pub fn new(state: Arc<dyn ReplyState>, settings: LiveSettings, config: ReplyConfig) -> Self {
        ReplyEngine {
            local: Arc::new(LocalLimits::new(config.headroom)),
            budget: state.clone(),
            ledger: state.clone(),
            sleepers: Arc::new(tokio::sync::Semaphore::new(config.inline_sleepers)),
            state,
            settings,
            config,
        }
    }

    fn rate(&self, per_sec: f64) -> Option<Rate> {
        Rate::per_second(per_sec * self.config.headroom, 1)
    }

    /// Takes one reply from the channel's and the global budget and from the
    /// recipient's pace, for a message in line by `ticket` to the chat `recipient`
    /// ([`keys::recipient`]). Shared by automatic and manual replies.
    pub async fn take_budget(
        &self,
        budgets: &Budgets,
        channel: firebreak_core::Channel,
        recipient: &Recipient,
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
        let line = Line {
            key: &channel_key,
            rate: channel_rate,
            ticket,
            ahead_limit: front.max(1),
        };
        // The global budget and the recipient's pace (every replica's, on Redis time)
        // are kept only once the channel granted: a message merely waiting in line
        // uses up neither.
        let recipient_key = recipient.budget_key();
        let grant = self
            .budget
            .acquire_for_reply(
                &line,
                (keys::GLOBAL_BUDGET, global_rate),
                (recipient_key.as_str(), recipient.rate()),
            )
            .await?;
        Ok(Some(grant))
    }

    /// Picks the variant for `message`, never one its thread already saw, spreading
    /// public replies over the channel's recent ones, renders it and claims the
    /// message's reply with it. Concurrent pickers are settled by compare-and-swap on
    /// both the thread and the channel ring; the claim goes in the same round trip.
    /// `view` is what the stage read with its lookup, used for the first attempt.
    async fn choose_and_claim(
        &self,
        message: &Message,
        (question, language, variants): (&str, firebreak_core::Language, usize),
        view: Option<VariantView>,
        render: impl Fn(usize) -> Option<String>,
    ) -> Result<Chosen, StateError> {
        let thread = keys::thread(message);
        let group = keys::group(question, language);
        let member = message.id.to_string();
        let ring = keys::ring(message.channel, question, language);
        let public = message.visibility == Visibility::Public;
        let query = VariantQuery {
            thread: &thread,
            group: &group,
            ring: public.then_some(ring.as_str()),
        };
        let mut view = view;
        for attempt in 0u64..16 {
            let seen = match view.take() {
                Some(seen) => seen,
                None => self.ledger.variant_view(query).await?,
            };
            let own = seen
                .taken
                .iter()
                .find(|(_, holder)| *holder == member)
                .map(|(v, _)| *v);
            let used: Vec<usize> = seen.taken.iter().map(|(v, _)| *v).collect();
            let pick = match own {
                // A redelivery keeps its own pick; the ring already has it.
                Some(own) => Some(own),
                None => select_variant(
                    variants,
                    &used,
                    &seen.recent.variants,
                    seed_of(&member) + attempt,
                ),
            };
            let Some(variant) = pick else {
                return Ok(Chosen::NoneLeft);
            };
            let Some(text) = render(variant) else {
                return Ok(Chosen::NoTemplate);
            };
            let ring_after = (public && own.is_none()).then(|| {
                (
                    seen.recent.version,
                    push_recent(&seen.recent.variants, variant, self.config.recent_window),
                )
            });
            let claim = Claim {
                state: ClaimState::Sending,
                variant: format!("{group}.{variant}"),
                text,
                // Stamped by the ledger's clock, not this replica's.
                claimed_at_ms: 0,
                connector: String::new(),
            };
            let take = Take {
                message: &member,
                query: VariantQuery {
                    ring: if ring_after.is_some() {
                        query.ring
                    } else {
                        None
                    },
                    ..query
                },
                variant,
                ring_after,
                claim: &claim,
            };
            match self.ledger.take_and_claim(&take).await? {
                Taken::Claimed => return Ok(Chosen::Claimed(claim)),
                Taken::Existing(existing) => return Ok(Chosen::Existing(existing)),
                Taken::Lost => continue,
            }
        }
        // Sixteen lost races in a row: a human is a better answer than a repeat.
        Ok(Chosen::NoneLeft)
    }

    /// Decides what happens to `message` now; a `Send` holds the claim made for it.
    /// Reservations (thread slot, author cooldown) are idempotent per message, so a
    /// redelivery decides the same way, and are released when the message will not be
    /// answered.
    pub async fn decide(
        &self,
        message: &Message,
        classification: &Classification,
        now: OffsetDateTime,
    ) -> Result<Decision, StateError> {
        self.decide_with(message, classification, now, None, None)
            .await
    }

    /// The thread slot and author cooldown `message` would reserve, if it gets as far
    /// as reserving (its guards let it through and it has a reply set): the stage asks
    /// them with its first read ([`ReplyState::lookup_and_reserve`]).
    pub fn reservation(
        &self,
        message: &Message,
        classification: &Classification,
        now: OffsetDateTime,
    ) -> Option<Reservation> {
        let settings = self.settings.current();
        let crisis = settings.crisis_active();
        let mode = settings.playbook().mode(crisis);
        match self.config.guards.check(message, classification, mode, now) {
            Verdict::Proceed => {}
            _ => return None,
        }
        let question = classification.reply_set()?;
        Some(Self::reservation_in(
            mode,
            message,
            classification,
            question,
        ))
    }

    fn reservation_in(
        mode: &firebreak_triage::playbook::ModeSettings,
        message: &Message,
        classification: &Classification,
        question: &str,
    ) -> Reservation {
        let acknowledgement = classification.first_line == Some(FirstLine::Acknowledgement);
        let budgets = &mode.budgets;
        let cooldown = match (acknowledgement, &mode.first_line.acknowledgement) {
            (true, Some(ack)) => Duration::from_secs(ack.window_secs),
            _ => Duration::from_secs(budgets.author_cooldown_secs),
        };
        Reservation {
            member: message.id.to_string(),
            thread: keys::thread(message),
            thread_cap: budgets.thread_cap,
            author: keys::author(message, question),
            cooldown,
        }
    }

    /// Frees what a reservation made with the first read holds, for a message that
    /// stops before using it.
    async fn release_reserved(
        &self,
        message: &Message,
        classification: &Classification,
        reserved: Option<Reserved>,
    ) -> Result<(), StateError> {
        let Some(question) = classification.reply_set() else {
            return Ok(());
        };
        let member = message.id.to_string();
        match reserved {
            Some(Reserved::Both) => {
                self.budget
                    .release_thread(&keys::thread(message), &member)
                    .await?;
                self.budget
                    .release_author(&keys::author(message, question), &member)
                    .await
            }
            Some(Reserved::AuthorCooling) => {
                self.budget
                    .release_thread(&keys::thread(message), &member)
                    .await
            }
            Some(Reserved::ThreadFull) | None => Ok(()),
        }
    }

    /// [`ReplyEngine::decide`] with the variant view the caller already read (with
    /// [`crate::Ledger::lookup`]), saving that round trip, and the reservation it made
    /// in the same round trip if it did.
    pub async fn decide_with(
        &self,
        message: &Message,
        classification: &Classification,
        now: OffsetDateTime,
        view: Option<VariantView>,
        reserved: Option<Reserved>,
    ) -> Result<Decision, StateError> {
        let settings = self.settings.current();
        let crisis = settings.crisis_active();
        let playbook = settings.playbook();
        let mode = playbook.mode(crisis);
        let early = match self.config.guards.check(message, classification, mode, now) {
            Verdict::Proceed => None,
            Verdict::Ignore(why) => Some(Decision::Ignore(why)),
            Verdict::Escalate(why) => Some(Decision::Escalate(why)),
        };
        if let Some(decision) = early {
            // The reservation was asked under the settings of a moment ago; a playbook
            // or crisis swapped in since can stop the message here, holding it.
            self.release_reserved(message, classification, reserved)
                .await?;
            return Ok(decision);
        }
        // A key question's id, or a first-line reply set: both go through the same
        // thread cap, author cooldown, budgets and variation.
        let Some(question) = classification.reply_set() else {
            return Ok(Decision::Escalate("no key question"));
        };
        let acknowledgement = classification.first_line == Some(FirstLine::Acknowledgement);
        let budgets = &mode.budgets;
        let reservation = Self::reservation_in(mode, message, classification, question);
        let member = &reservation.member;
        let thread = &reservation.thread;
        let author = &reservation.author;
        let reserved = match reserved {
            Some(reserved) => reserved,
            None => self.budget.reserve_both(&reservation.reserve()).await?,
        };
        match reserved {
            Reserved::Both => {}
            Reserved::ThreadFull => {
                return Ok(Decision::Escalate(
                    "thread reached its automatic reply cap: a human takes it",
                ));
            }
            Reserved::AuthorCooling => {
                self.budget.release_thread(thread, member).await?;
                return Ok(Decision::Ignore(if acknowledgement {
                    "already acknowledged within the window: counted towards a human"
                } else {
                    "author cooldown: already answered on this question"
                }));
            }
        }
        let ticket = ticket(message);
        let recipient = Recipient::of(message);
        let mut slept = Duration::ZERO;
        let grant = loop {
            let grant = self
                .take_budget(budgets, message.channel, &recipient, &ticket)
                .await?;
            match grant {
                // A short wait is slept here: the line and the pace keep the same
                // ticket, so the message keeps its place by age.
                Some(Grant::Wait(delay))
                    if delay <= self.config.inline_wait
                        && slept + delay <= self.config.inline_wait_total =>
                {
                    let Ok(_sleeper) = self.sleepers.try_acquire() else {
                        break grant;
                    };
                    tokio::time::sleep(delay).await;
                    slept += delay;
                }
                grant => break grant,
            }
        };
        match grant {
            None if classification.first_line.is_some() => {
                // A first-line reply is a courtesy; without budget the message is
                // simply not answered, as it would be without a first line.
                self.budget.release_author(author, member).await?;
                return Ok(Decision::Ignore(
                    "no automatic reply budget on this channel for a first-line reply",
                ));
            }
            None => {
                self.budget.release_author(author, member).await?;
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
        let vars = render::vars(message, render::case_ref(message.id));
        let render = |index: usize| {
            playbook
                .render_reply(crisis, question, language, index, &vars)
                .map(|text| render::tidy(&text))
        };
        let why = match self
            .choose_and_claim(message, (question, language, count), view, render)
            .await?
        {
            Chosen::Claimed(claim) => {
                return Ok(Decision::Send {
                    variant: claim.variant,
                    text: claim.text,
                    slept,
                });
            }
            Chosen::Existing(claim) => return Ok(Decision::Claimed(claim)),
            Chosen::NoneLeft => "every reply variant was already used in this thread",
            Chosen::NoTemplate => "no reply template for this question and language",
        };
        self.budget.release_author(author, member).await?;
        Ok(Decision::Escalate(why))
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
