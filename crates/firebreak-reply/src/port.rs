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

    /// Takes one reply from the plain budget `key` (the global one).
    async fn acquire(&self, key: &str, rate: Rate) -> Result<Grant, StateError>;

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
}

/// How long reply state outlives its message: the platforms' retry horizon.
pub const STATE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
