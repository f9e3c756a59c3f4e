//! The two ports the reply service keeps its shared state behind: [`Budget`] (rate
//! budgets, author cooldowns, thread caps) and [`Ledger`] (the per-message reply claim
//! and the variation state). Both have a Redis adapter (cluster-wide, every key under
//! one hash tag per call) and an in-memory adapter (the embedded default); one
//! conformance suite runs against both (`tests/conformance.rs`).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::gcra::Rate;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reply state unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt reply state: {0}")]
    Corrupt(String),
}

/// A message waiting for a budget, in line by age: the older one is served first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The message id.
    pub member: String,
    /// When the message was received, in microseconds since the Unix epoch.
    pub age_us: u64,
}

/// The answer of a budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    Granted,
    /// Not now: come back after this long (the next free slot, or the estimated turn of
    /// a message behind older ones).
    Wait(Duration),
}

/// Rate budgets, cooldowns and caps, enforced across every replica.
#[async_trait]
pub trait Budget: Send + Sync + 'static {
    /// Takes one reply from the queued budget `key` (a channel's), unless `ahead_limit`
    /// or more older messages wait for it. A denied ticket joins the line; a granted
    /// one leaves it.
    async fn acquire_queued(
        &self,
        key: &str,
        rate: Rate,
        ticket: &Ticket,
        ahead_limit: u32,
    ) -> Result<Grant, StateError>;

    /// How many messages wait in `key`'s line (stale waiters may still be counted until
    /// the next acquire prunes them). For the `reply_budget_waiting` gauge.
    async fn waiting(&self, key: &str) -> Result<u64, StateError>;

    /// Takes one reply from the plain budget `key` (the global one, or a recipient's
    /// pace).
    async fn acquire(&self, key: &str, rate: Rate) -> Result<Grant, StateError>;

    /// Takes one reply from each plain budget at once (one round trip on Redis) and
    /// answers each. A caller that cannot use them all refunds the granted ones.
    async fn acquire_all(&self, budgets: &[(&str, Rate)]) -> Result<Vec<Grant>, StateError> {
        let mut grants = Vec::with_capacity(budgets.len());
        for (key, rate) in budgets {
            grants.push(self.acquire(key, *rate).await?);
        }
        Ok(grants)
    }

    /// Gives back a reply taken from `key` but not sent (another budget said no).
    async fn refund(&self, key: &str, rate: Rate) -> Result<(), StateError>;

    /// Takes `ticket` out of `key`'s line (the message ended another way).
    async fn leave_queue(&self, key: &str, ticket: &Ticket) -> Result<(), StateError>;

    /// Reserves the author's one automatic reply for this key question and cooldown.
    /// Idempotent per message: the message holding it gets `true` again.
    async fn reserve_author(
        &self,
        key: &str,
        message: &str,
        cooldown: Duration,
    ) -> Result<bool, StateError>;

    /// Frees the author's reservation if `message` holds it (it was not answered).
    async fn release_author(&self, key: &str, message: &str) -> Result<(), StateError>;

    /// Reserves one of the thread's `cap` automatic replies. Idempotent per message.
    async fn reserve_thread(&self, key: &str, message: &str, cap: u32) -> Result<bool, StateError>;

    /// Frees the thread slot `message` holds.
    async fn release_thread(&self, key: &str, message: &str) -> Result<(), StateError>;

    /// Takes one reply from `line` (a channel's queued budget) and, once it grants, from
    /// the global budget and the recipient's pace. When any of them says wait, none is
    /// kept (what the others granted is refunded) and the first wait found is
    /// returned. The Redis adapter asks all three in one round trip.
    async fn acquire_for_reply(
        &self,
        line: &Line<'_>,
        global: (&str, Rate),
        recipient: (&str, Rate),
    ) -> Result<Grant, StateError> {
        match self
            .acquire_queued(line.key, line.rate, line.ticket, line.ahead_limit)
            .await?
        {
            Grant::Granted => {}
            wait => return Ok(wait),
        }
        let taken = [global, recipient];
        let grants = self.acquire_all(&taken).await?;
        let Some(wait) = grants.iter().find(|g| matches!(g, Grant::Wait(_))).copied() else {
            return Ok(Grant::Granted);
        };
        self.refund(line.key, line.rate).await?;
        for ((key, rate), grant) in taken.iter().zip(&grants) {
            if *grant == Grant::Granted {
                self.refund(key, *rate).await?;
            }
        }
        Ok(wait)
    }

    /// [`Budget::reserve_thread`], then [`Budget::reserve_author`] if the thread had
    /// room. The Redis adapter asks both in one round trip and frees an author
    /// reservation the thread's answer made useless.
    async fn reserve_both(&self, reserve: &Reserve<'_>) -> Result<Reserved, StateError> {
        if !self
            .reserve_thread(reserve.thread, reserve.message, reserve.thread_cap)
            .await?
        {
            return Ok(Reserved::ThreadFull);
        }
        if !self
            .reserve_author(reserve.author, reserve.message, reserve.cooldown)
            .await?
        {
            return Ok(Reserved::AuthorCooling);
        }
        Ok(Reserved::Both)
    }
}

/// A message's place in a queued budget's line.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    pub key: &'a str,
    pub rate: Rate,
    pub ticket: &'a Ticket,
    /// Served only when fewer older messages wait than this.
    pub ahead_limit: u32,
}

/// The thread slot and author cooldown one message asks for.
#[derive(Clone, Copy, Debug)]
pub struct Reserve<'a> {
    pub message: &'a str,
    pub thread: &'a str,
    pub thread_cap: u32,
    pub author: &'a str,
    pub cooldown: Duration,
}

/// What [`Budget::reserve_both`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserved {
    Both,
    /// The thread's cap is reached; nothing is held.
    ThreadFull,
    /// The thread slot is held, the author's reply on this question is not.
    AuthorCooling,
}

/// Which variants a thread and a channel already used, for one variant family.
#[derive(Clone, Copy, Debug)]
pub struct VariantQuery<'a> {
    pub thread: &'a str,
    pub group: &'a str,
    /// The channel's ring of recent public variants (public messages only).
    pub ring: Option<&'a str>,
}

/// The answer to a [`VariantQuery`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariantView {
    /// Variants taken in the thread, with the message holding each.
    pub taken: Vec<(usize, String)>,
    pub recent: Recent,
}

/// What a reply attempt reads first about its message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// Whether the message log holds an outcome for the message; `None` when this
    /// ledger cannot see the log (the caller reads it there).
    pub finished: Option<bool>,
    pub claim: Option<Claim>,
    /// The variant view asked for, read in the same round trip.
    pub variants: Option<VariantView>,
}

/// A variant picked for a message, and the claim to make with it.
#[derive(Clone, Debug)]
pub struct Take<'a> {
    pub message: &'a str,
    pub query: VariantQuery<'a>,
    pub variant: usize,
    /// The ring after this pick and the version it was read at (public messages).
    pub ring_after: Option<(u64, Vec<usize>)>,
    pub claim: &'a Claim,
}

/// What [`Ledger::take_and_claim`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// The variant is the message's and the claim is made: send.
    Claimed,
    /// The message was already claimed (a redelivery raced this one).
    Existing(Claim),
    /// Another message changed the ring or took the variant first: pick again.
    Lost,
}

/// Where one message's reply is. Written before the send, updated after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    Sending,
    Sent,
}

/// The reply a message is claimed for, as stored under `fb:{m:ID}:reply`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub state: ClaimState,
    pub variant: String,
    pub text: String,
    /// Unix milliseconds of the claim by the ledger's clock ([`Ledger::clock_ms`]), to
    /// tell a live sender from a crashed one. The ledger stamps it; a caller's value
    /// is ignored.
    pub claimed_at_ms: u64,
    #[serde(default)]
    pub connector: String,
}

/// The channel's recent public variants and the version they were read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    pub version: u64,
    /// Most recent first.
    pub variants: Vec<usize>,
}

/// Idempotency and variation state.
#[async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Claims the message's one reply. `Ok(None)` when this call made the claim,
    /// `Ok(Some(existing))` when one was already there (a redelivery).
    async fn claim(&self, message: &str, claim: &Claim) -> Result<Option<Claim>, StateError>;

    /// The ledger's clock, in unix milliseconds: the one claims are stamped with, and
    /// the only one their age may be measured against (replicas' clocks differ).
    async fn clock_ms(&self) -> Result<u64, StateError>;

    async fn get_claim(&self, message: &str) -> Result<Option<Claim>, StateError>;

    /// Marks the claimed reply as delivered by `connector`.
    async fn mark_sent(&self, message: &str, connector: &str) -> Result<(), StateError>;

    /// Drops a claim whose send certainly did not reach the platform.
    async fn drop_claim(&self, message: &str) -> Result<(), StateError>;

    /// Counts one deferral of the message and returns the total.
    async fn count_deferral(&self, message: &str) -> Result<u32, StateError>;

    async fn deferrals(&self, message: &str) -> Result<u32, StateError>;

    /// The variants already sent (or being sent) in a thread, with the message that
    /// took each: a redelivered message finds and keeps its own pick.
    async fn thread_variants(
        &self,
        thread: &str,
        group: &str,
    ) -> Result<Vec<(usize, String)>, StateError>;

    /// Records that `message` uses `variant` in the thread. False when another message
    /// of the thread took that variant first.
    async fn use_thread_variant(
        &self,
        thread: &str,
        group: &str,
        variant: usize,
        message: &str,
    ) -> Result<bool, StateError>;

    async fn recent(&self, ring: &str) -> Result<Recent, StateError>;

    /// Replaces the ring with `variants` if it is still at `expected` version.
    async fn swap_recent(
        &self,
        ring: &str,
        expected: u64,
        variants: &[usize],
    ) -> Result<bool, StateError>;

    /// The variants a thread (and for a public message, the channel) already used.
    async fn variant_view(&self, query: VariantQuery<'_>) -> Result<VariantView, StateError> {
        let taken = self.thread_variants(query.thread, query.group).await?;
        let recent = match query.ring {
            Some(ring) => self.recent(ring).await?,
            None => Recent::default(),
        };
        Ok(VariantView { taken, recent })
    }

    /// The message's claim, whether it has an outcome, and the variant view if asked:
    /// one round trip on Redis (the claim and the record share the message's tag).
    async fn lookup(
        &self,
        message: &str,
        variants: Option<VariantQuery<'_>>,
    ) -> Result<Lookup, StateError> {
        let claim = self.get_claim(message).await?;
        let variants = match variants {
            Some(query) => Some(self.variant_view(query).await?),
            None => None,
        };
        Ok(Lookup {
            finished: None,
            claim,
            variants,
        })
    }

    /// Moves the ring, takes the thread's variant and claims the message's reply. The
    /// Redis adapter does all three in one round trip and drops a claim made for a
    /// pick that lost its race.
    async fn take_and_claim(&self, take: &Take<'_>) -> Result<Taken, StateError> {
        // A claim already there wins over the pick, as in the one-round-trip version.
        if let Some(existing) = self.get_claim(take.message).await? {
            return Ok(Taken::Existing(existing));
        }
        if let (Some(ring), Some((version, after))) = (take.query.ring, &take.ring_after)
            && !self.swap_recent(ring, *version, after).await?
        {
            return Ok(Taken::Lost);
        }
        if !self
            .use_thread_variant(
                take.query.thread,
                take.query.group,
                take.variant,
                take.message,
            )
            .await?
        {
            return Ok(Taken::Lost);
        }
        Ok(match self.claim(take.message, take.claim).await? {
            None => Taken::Claimed,
            Some(existing) => Taken::Existing(existing),
        })
    }
}

/// Both ports on one store, and the reply steps whose Redis adapter merges reads of
/// the ledger with writes of the budget into one round trip. The reply role builds
/// both ports from one state, so they always see the same server.
#[async_trait]
pub trait ReplyState: Ledger + Budget {
    /// [`Ledger::lookup`], and with it [`Budget::reserve_both`] for `reserve` when the
    /// message turns out to be neither finished nor claimed. The reservation is `None`
    /// when it was not made here (this default never makes it, nor does any adapter
    /// when the message is finished, claimed or its outcome unknown to the ledger):
    /// a caller that goes on reserves itself.
    async fn lookup_and_reserve(
        &self,
        message: &str,
        variants: Option<VariantQuery<'_>>,
        _reserve: Option<&Reserve<'_>>,
    ) -> Result<(Lookup, Option<Reserved>), StateError> {
        Ok((self.lookup(message, variants).await?, None))
    }
}

/// How long reply state outlives its message: the platforms' retry horizon.
pub const STATE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
