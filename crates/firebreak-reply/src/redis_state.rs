//! The Redis adapter of [`Budget`] and [`Ledger`]. Every script touches the keys of a
//! single hash tag, and budgets read the clock from Redis (`TIME`), so replicas with
//! skewed clocks still share one schedule. The steps the reply stage merges into one
//! round trip are in `redis_merged.rs`.

use std::time::Duration;

use async_trait::async_trait;
use firebreak_store::redis_conn::RedisConn;

use crate::keys::redis as k;
use crate::port::{
    Budget, Claim, ClaimState, Grant, Ledger, Line, Lookup, Rate, Recent, ReplyState, Reserve,
    Reserved, STATE_TTL, StateError, Take, Taken, Ticket, VariantQuery, VariantView,
};
use crate::redis_scripts::{
    ACQUIRE, ACQUIRE_LINE_AND_GLOBAL, ACQUIRE_QUEUED, CLAIM, REFUND, RELEASE_AUTHOR,
    RELEASE_THREAD, RESERVE_AUTHOR, RESERVE_THREAD, SWAP_RECENT, USE_THREAD_VARIANT,
};

/// A waiter not seen for this long left the line without saying so (crashed, or its
/// message ended another way): it stops holding younger messages back.
pub(crate) const STALE_WAITER: Duration = Duration::from_secs(90);

#[derive(Clone)]
pub struct RedisReplyState {
    connection: RedisConn,
}

impl std::fmt::Debug for RedisReplyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplyState").finish_non_exhaustive()
    }
}

pub(crate) fn unavailable(e: redis::RedisError) -> StateError {
    StateError::Unavailable(e.to_string())
}

pub(crate) fn ttl_ms() -> u64 {
    STATE_TTL.as_millis() as u64
}

pub(crate) fn grant(wait_us: u64) -> Grant {
    if wait_us == 0 {
        Grant::Granted
    } else {
        Grant::Wait(Duration::from_micros(wait_us))
    }
}

pub(crate) fn state_name(state: &ClaimState) -> &'static str {
    match state {
        ClaimState::Sending => "sending",
        ClaimState::Sent => "sent",
    }
}

/// Builds a claim from `HMGET state variant text claimed_at connector`.
pub(crate) fn claim_from(fields: Vec<Option<String>>) -> Result<Option<Claim>, StateError> {
    let mut fields = fields.into_iter();
    let mut next = || fields.next().flatten();
    let state = match next().as_deref() {
        None => return Ok(None),
        Some("sending") => ClaimState::Sending,
        Some("sent") => ClaimState::Sent,
        Some(other) => return Err(StateError::Corrupt(format!("claim state {other:?}"))),
    };
    Ok(Some(Claim {
        state,
        variant: next().unwrap_or_default(),
        text: next().unwrap_or_default(),
        claimed_at_ms: next().and_then(|s| s.parse().ok()).unwrap_or(0),
        connector: next().unwrap_or_default(),
    }))
}

pub(crate) fn ring_text(variants: &[usize]) -> String {
    variants
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl RedisReplyState {
    pub async fn connect(url: &str) -> Result<Self, StateError> {
        // Pipelines call these by hash; the connection loads them again on NOSCRIPT.
        let connection = RedisConn::connect(url)
            .await
            .map_err(unavailable)?
            .with_scripts(&[
                &ACQUIRE_QUEUED,
                &ACQUIRE_LINE_AND_GLOBAL,
                &ACQUIRE,
                &REFUND,
                &RESERVE_AUTHOR,
                &RELEASE_AUTHOR,
                &RESERVE_THREAD,
                &RELEASE_THREAD,
                &USE_THREAD_VARIANT,
                &CLAIM,
                &SWAP_RECENT,
            ])
            .await
            .map_err(unavailable)?;
        Ok(RedisReplyState { connection })
    }

    pub(crate) fn conn(&self) -> RedisConn {
        self.connection.clone()
    }

    /// Round trips to Redis made by this state and its clones.
    pub fn round_trips(&self) -> u64 {
        self.connection.round_trips()
    }
}

#[async_trait]
impl Budget for RedisReplyState {
    async fn acquire_queued(
        &self,
        key: &str,
        rate: Rate,
        ticket: &Ticket,
        ahead_limit: u32,
    ) -> Result<Grant, StateError> {
        let wait: u64 = ACQUIRE_QUEUED
            .key(k::budget_tat(key))
            .key(k::budget_queue(key))
            .key(k::budget_seen(key))
            .arg(&ticket.member)
            .arg(ticket.age_us)
            .arg(rate.emission_us)
            .arg(rate.tolerance_us)
            .arg(ahead_limit)
            .arg(STALE_WAITER.as_micros() as u64)
            .arg(ttl_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(grant(wait))
    }

    async fn waiting(&self, key: &str) -> Result<u64, StateError> {
        redis::cmd("ZCARD")
            .arg(k::budget_queue(key))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn acquire(&self, key: &str, rate: Rate) -> Result<Grant, StateError> {
        let wait: u64 = ACQUIRE
            .key(k::budget_tat(key))
            .arg(rate.emission_us)
            .arg(rate.tolerance_us)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(grant(wait))
    }

    async fn refund(&self, key: &str, rate: Rate) -> Result<(), StateError> {
        let _: i64 = REFUND
            .key(k::budget_tat(key))
            .arg(rate.emission_us)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn leave_queue(&self, key: &str, ticket: &Ticket) -> Result<(), StateError> {
        // Two keys of one tag in a pipeline: atomic enough, since a left-over entry is
        // pruned as stale anyway.
        let _: () = redis::pipe()
            .zrem(k::budget_queue(key), &ticket.member)
            .ignore()
            .zrem(k::budget_seen(key), &ticket.member)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn reserve_author(
        &self,
        key: &str,
        message: &str,
        cooldown: Duration,
    ) -> Result<bool, StateError> {
        let held: i64 = RESERVE_AUTHOR
            .key(k::author(key))
            .arg(message)
            .arg(cooldown.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(held >= 1)
    }

    async fn release_author(&self, key: &str, message: &str) -> Result<(), StateError> {
        let _: i64 = RELEASE_AUTHOR
            .key(k::author(key))
            .arg(message)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn reserve_thread(&self, key: &str, message: &str, cap: u32) -> Result<bool, StateError> {
        let held: i64 = RESERVE_THREAD
            .key(k::thread(key))
            .arg(message)
            .arg(cap)
            .arg(ttl_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(held >= 1)
    }

    async fn release_thread(&self, key: &str, message: &str) -> Result<(), StateError> {
        let _: i64 = RELEASE_THREAD
            .key(k::thread(key))
            .arg(message)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn acquire_all(&self, budgets: &[(&str, Rate)]) -> Result<Vec<Grant>, StateError> {
        self.acquire_all_at_once(budgets).await
    }

    async fn reserve_both(&self, reserve: &Reserve<'_>) -> Result<Reserved, StateError> {
        self.reserve_both_at_once(reserve).await
    }

    async fn acquire_for_reply(
        &self,
        line: &Line<'_>,
        global: (&str, Rate),
        recipient: (&str, Rate),
    ) -> Result<Grant, StateError> {
        self.acquire_for_reply_at_once(line, global, recipient)
            .await
    }
}

#[async_trait]
impl ReplyState for RedisReplyState {
    async fn lookup_and_reserve(
        &self,
        message: &str,
        variants: Option<VariantQuery<'_>>,
        reserve: Option<&Reserve<'_>>,
    ) -> Result<(Lookup, Option<Reserved>), StateError> {
        self.lookup_and_reserve_at_once(message, variants, reserve)
            .await
    }
}

#[async_trait]
impl Ledger for RedisReplyState {
    async fn clock_ms(&self) -> Result<u64, StateError> {
        let (secs, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(secs * 1000 + micros / 1000)
    }

    async fn claim(&self, message: &str, claim: &Claim) -> Result<Option<Claim>, StateError> {
        let existing: Vec<Option<String>> = CLAIM
            .key(k::claim(message))
            .arg(state_name(&claim.state))
            .arg(&claim.variant)
            .arg(&claim.text)
            .arg(claim.claimed_at_ms)
            .arg(&claim.connector)
            .arg(ttl_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        claim_from(existing)
    }

    async fn get_claim(&self, message: &str) -> Result<Option<Claim>, StateError> {
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(k::claim(message))
            .arg(&["state", "variant", "text", "claimed_at", "connector"])
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        claim_from(fields)
    }

    async fn mark_sent(&self, message: &str, connector: &str) -> Result<(), StateError> {
        let _: () = redis::cmd("HSET")
            .arg(k::claim(message))
            .arg(&["state", "sent", "connector", connector])
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn drop_claim(&self, message: &str) -> Result<(), StateError> {
        let _: () = redis::cmd("HDEL")
            .arg(k::claim(message))
            .arg(&["state", "variant", "text", "claimed_at", "connector"])
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn count_deferral(&self, message: &str) -> Result<u32, StateError> {
        let (count,): (u32,) = redis::pipe()
            .hincr(k::claim(message), "deferrals", 1)
            .pexpire(k::claim(message), ttl_ms() as i64)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    async fn deferrals(&self, message: &str) -> Result<u32, StateError> {
        let count: Option<u32> = redis::cmd("HGET")
            .arg(k::claim(message))
            .arg("deferrals")
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(count.unwrap_or(0))
    }

    async fn thread_variants(
        &self,
        thread: &str,
        group: &str,
    ) -> Result<Vec<(usize, String)>, StateError> {
        let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(k::thread(thread))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let prefix = format!("v:{group}:");
        Ok(fields
            .into_iter()
            .filter_map(|(field, holder)| {
                let index = field.strip_prefix(&prefix)?.parse().ok()?;
                Some((index, holder))
            })
            .collect())
    }

    async fn use_thread_variant(
        &self,
        thread: &str,
        group: &str,
        variant: usize,
        message: &str,
    ) -> Result<bool, StateError> {
        let taken: i64 = USE_THREAD_VARIANT
            .key(k::thread(thread))
            .arg(format!("v:{group}:{variant}"))
            .arg(message)
            .arg(ttl_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(taken == 1)
    }

    async fn recent(&self, ring: &str) -> Result<Recent, StateError> {
        let (version, text): (Option<u64>, Option<String>) = redis::cmd("HMGET")
            .arg(k::ring(ring))
            .arg(&["v", "ring"])
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let variants = text
            .unwrap_or_default()
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect();
        Ok(Recent {
            version: version.unwrap_or(0),
            variants,
        })
    }

    async fn swap_recent(
        &self,
        ring: &str,
        expected: u64,
        variants: &[usize],
    ) -> Result<bool, StateError> {
        let swapped: i64 = SWAP_RECENT
            .key(k::ring(ring))
            .arg(expected)
            .arg(ring_text(variants))
            .arg(ttl_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(swapped == 1)
    }

    async fn variant_view(&self, query: VariantQuery<'_>) -> Result<VariantView, StateError> {
        self.variant_view_at_once(query).await
    }

    async fn lookup(
        &self,
        message: &str,
        variants: Option<VariantQuery<'_>>,
    ) -> Result<Lookup, StateError> {
        self.lookup_at_once(message, variants).await
    }

    async fn take_and_claim(&self, take: &Take<'_>) -> Result<Taken, StateError> {
        self.take_and_claim_at_once(take).await
    }
}
