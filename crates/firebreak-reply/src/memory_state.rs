//! The in-memory adapter of [`Budget`] and [`Ledger`], for the embedded single-process
//! mode and unit tests. Same semantics as the Redis adapter (one conformance suite),
//! with the process's monotonic clock in place of Redis `TIME`. Keys are dropped when
//! their Redis counterparts would expire (the state TTL, a budget's theoretical arrival
//! time, a cooldown, a stale waiter), swept at most every few seconds, so a process up
//! for days holds only what is still live.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::gcra::{self, Verdict};
use crate::port::{
    Budget, Claim, ClaimState, Grant, Ledger, Rate, Recent, STATE_TTL, StateError, Ticket,
};

const STALE_WAITER: Duration = Duration::from_secs(90);

/// The longest time between two sweeps of expired keys: each sweep looks at every key,
/// so it is rare, and what it has not dropped yet is at most this much past its time.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Keys that live for the state TTL from their last write, as in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kept {
    Claim,
    Deferrals,
    Thread,
    Ring,
}

#[derive(Default)]
struct Line {
    /// member -> (age, last seen µs)
    waiting: HashMap<String, (u64, u64)>,
}

#[derive(Default)]
struct Thread {
    holders: Vec<String>,
    /// "group:variant" -> message
    variants: BTreeMap<String, String>,
}

#[derive(Default)]
struct State {
    tats: HashMap<String, u64>,
    lines: HashMap<String, Line>,
    /// author key -> (holder, expires at µs)
    authors: HashMap<String, (String, u64)>,
    threads: HashMap<String, Thread>,
    claims: HashMap<String, Claim>,
    deferrals: HashMap<String, u32>,
    rings: HashMap<String, Recent>,
    /// When each key of the maps above (other than budgets, lines and authors, which
    /// carry their own times) expires, µs on the state's clock.
    expires: HashMap<(Kept, String), u64>,
    ttl_us: u64,
    last_sweep_us: u64,
    /// Added to the wall clock for claims (see `advance_clock`).
    clock_offset: Duration,
}

impl State {
    /// Restarts a key's TTL, as the Redis scripts' `PEXPIRE` on every write.
    fn touch(&mut self, kept: Kept, key: &str, now: u64) {
        self.expires
            .insert((kept, key.to_string()), now.saturating_add(self.ttl_us));
    }

    /// Drops every key whose Redis counterpart would have expired by `now`.
    fn sweep(&mut self, now: u64) {
        let expired: Vec<(Kept, String)> = self
            .expires
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for (kept, key) in expired {
            self.expires.remove(&(kept, key.clone()));
            match kept {
                Kept::Claim => {
                    self.claims.remove(&key);
                }
                Kept::Deferrals => {
                    self.deferrals.remove(&key);
                }
                Kept::Thread => {
                    self.threads.remove(&key);
                }
                Kept::Ring => {
                    self.rings.remove(&key);
                }
            }
        }
        // A budget key lives one second past its theoretical arrival time.
        self.tats
            .retain(|_, tat| tat.saturating_add(1_000_000) > now);
        let stale_before = now.saturating_sub(STALE_WAITER.as_micros() as u64);
        self.lines.retain(|_, line| {
            line.waiting.retain(|_, (_, seen)| *seen > stale_before);
            !line.waiting.is_empty()
        });
        self.authors.retain(|_, (_, expires)| *expires > now);
        self.last_sweep_us = now;
    }

    /// Keys held right now, of every kind.
    fn len(&self) -> usize {
        self.tats.len()
            + self.lines.len()
            + self.authors.len()
            + self.threads.len()
            + self.claims.len()
            + self.deferrals.len()
            + self.rings.len()
    }
}

pub struct MemoryReplyState {
    epoch: Instant,
    state: Mutex<State>,
    sweep_every_us: u64,
}

/// Every step is in memory: nothing to merge, the sequential defaults serve.
impl crate::port::ReplyState for MemoryReplyState {}

impl std::fmt::Debug for MemoryReplyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplyState").finish_non_exhaustive()
    }
}

impl Default for MemoryReplyState {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplyState {
    pub fn new() -> Self {
        Self::with_ttl(STATE_TTL)
    }

    /// State whose keys live `ttl` from their last write (Redis: [`STATE_TTL`]).
    pub fn with_ttl(ttl: Duration) -> Self {
        MemoryReplyState {
            // Start the clock well above 0 so "now minus stale" never underflows.
            epoch: Instant::now() - Duration::from_secs(3600),
            state: Mutex::new(State {
                ttl_us: ttl.as_micros() as u64,
                ..State::default()
            }),
            sweep_every_us: ttl.min(SWEEP_EVERY).as_micros() as u64,
        }
    }

    /// Keys held right now, of every kind (expired ones swept first).
    pub fn keys_held(&self) -> usize {
        let now = self.now_us();
        let mut state = self.state.lock();
        state.sweep(now);
        state.len()
    }

    /// The state, swept first when a sweep is due.
    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        let now = self.now_us();
        let mut state = self.state.lock();
        if now.saturating_sub(state.last_sweep_us) >= self.sweep_every_us {
            state.sweep(now);
        }
        state
    }

    /// Moves the ledger's clock forward, as time passing would: for tests of leases.
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock_offset += by;
    }

    fn wall_clock_ms(&self) -> u64 {
        let offset = self.lock().clock_offset;
        ((time::OffsetDateTime::now_utc() + offset).unix_timestamp_nanos() / 1_000_000) as u64
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

fn wait(us: u64) -> Grant {
    Grant::Wait(Duration::from_micros(us.max(1)))
}

#[async_trait]
impl Budget for MemoryReplyState {
    async fn acquire_queued(
        &self,
        key: &str,
        rate: Rate,
        ticket: &Ticket,
        ahead_limit: u32,
    ) -> Result<Grant, StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        let line = state.lines.entry(key.to_string()).or_default();
        let stale_before = now.saturating_sub(STALE_WAITER.as_micros() as u64);
        line.waiting.retain(|_, (_, seen)| *seen > stale_before);
        let ahead = line
            .waiting
            .values()
            .filter(|(age, _)| *age < ticket.age_us)
            .count() as u64;
        let tat = state.tats.get(key).copied().unwrap_or(0);
        let verdict = gcra::check(tat, now, rate);
        let line = state.lines.entry(key.to_string()).or_default();
        match verdict {
            Verdict::Allow { tat } if ahead < u64::from(ahead_limit) => {
                line.waiting.remove(&ticket.member);
                state.tats.insert(key.to_string(), tat);
                Ok(Grant::Granted)
            }
            verdict => {
                line.waiting
                    .insert(ticket.member.clone(), (ticket.age_us, now));
                let slot = match verdict {
                    Verdict::Deny { retry_after_us } => retry_after_us,
                    Verdict::Allow { .. } => 0,
                };
                Ok(wait(slot.max(ahead * rate.emission_us)))
            }
        }
    }

    async fn waiting(&self, key: &str) -> Result<u64, StateError> {
        Ok(self
            .state
            .lock()
            .lines
            .get(key)
            .map_or(0, |line| line.waiting.len() as u64))
    }

    async fn acquire(&self, key: &str, rate: Rate) -> Result<Grant, StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        let tat = state.tats.get(key).copied().unwrap_or(0);
        match gcra::check(tat, now, rate) {
            Verdict::Allow { tat } => {
                state.tats.insert(key.to_string(), tat);
                Ok(Grant::Granted)
            }
            Verdict::Deny { retry_after_us } => Ok(wait(retry_after_us)),
        }
    }

    async fn refund(&self, key: &str, rate: Rate) -> Result<(), StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        if let Some(tat) = state.tats.get_mut(key) {
            *tat = gcra::refund(*tat, now, rate);
        }
        Ok(())
    }

    async fn leave_queue(&self, key: &str, ticket: &Ticket) -> Result<(), StateError> {
        if let Some(line) = self.lock().lines.get_mut(key) {
            line.waiting.remove(&ticket.member);
        }
        Ok(())
    }

    async fn reserve_author(
        &self,
        key: &str,
        message: &str,
        cooldown: Duration,
    ) -> Result<bool, StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        match state.authors.get(key) {
            Some((holder, _)) if holder == message => Ok(true),
            Some((_, expires)) if *expires > now => Ok(false),
            _ => {
                let expires = now + cooldown.as_micros() as u64;
                state
                    .authors
                    .insert(key.to_string(), (message.to_string(), expires));
                Ok(true)
            }
        }
    }

    async fn release_author(&self, key: &str, message: &str) -> Result<(), StateError> {
        let mut state = self.lock();
        if state.authors.get(key).is_some_and(|(h, _)| h == message) {
            state.authors.remove(key);
        }
        Ok(())
    }

    async fn reserve_thread(&self, key: &str, message: &str, cap: u32) -> Result<bool, StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        state.touch(Kept::Thread, key, now);
        let thread = state.threads.entry(key.to_string()).or_default();
        if thread.holders.iter().any(|h| h == message) {
            return Ok(true);
        }
        if thread.holders.len() >= cap as usize {
            return Ok(false);
        }
        thread.holders.push(message.to_string());
        Ok(true)
    }

    async fn release_thread(&self, key: &str, message: &str) -> Result<(), StateError> {
        if let Some(thread) = self.lock().threads.get_mut(key) {
            thread.holders.retain(|h| h != message);
        }
        Ok(())
    }
}

#[async_trait]
impl Ledger for MemoryReplyState {
    async fn claim(&self, message: &str, claim: &Claim) -> Result<Option<Claim>, StateError> {
        // Read before taking the lock (the clock reads it too).
        let stamped = Claim {
            claimed_at_ms: self.wall_clock_ms(),
            ..claim.clone()
        };
        let now = self.now_us();
        let mut state = self.lock();
        if let Some(existing) = state.claims.get(message) {
            return Ok(Some(existing.clone()));
        }
        state.claims.insert(message.to_string(), stamped);
        state.touch(Kept::Claim, message, now);
        Ok(None)
    }

    async fn clock_ms(&self) -> Result<u64, StateError> {
        // One process, one clock.
        Ok(self.wall_clock_ms())
    }

    async fn get_claim(&self, message: &str) -> Result<Option<Claim>, StateError> {
        Ok(self.lock().claims.get(message).cloned())
    }

    async fn mark_sent(&self, message: &str, connector: &str) -> Result<(), StateError> {
        if let Some(claim) = self.lock().claims.get_mut(message) {
            claim.state = ClaimState::Sent;
            claim.connector = connector.to_string();
        }
        Ok(())
    }

    async fn drop_claim(&self, message: &str) -> Result<(), StateError> {
        self.lock().claims.remove(message);
        Ok(())
    }

    async fn count_deferral(&self, message: &str) -> Result<u32, StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        state.touch(Kept::Deferrals, message, now);
        let count = state.deferrals.entry(message.to_string()).or_default();
        *count += 1;
        Ok(*count)
    }

    async fn deferrals(&self, message: &str) -> Result<u32, StateError> {
        Ok(self
            .state
            .lock()
            .deferrals
            .get(message)
            .copied()
            .unwrap_or(0))
    }

    async fn thread_variants(
        &self,
        thread: &str,
        group: &str,
    ) -> Result<Vec<(usize, String)>, StateError> {
        let prefix = format!("{group}:");
        let state = self.lock();
        Ok(state
            .threads
            .get(thread)
            .map(|t| {
                t.variants
                    .iter()
                    .filter_map(|(field, holder)| {
                        Some((field.strip_prefix(&prefix)?.parse().ok()?, holder.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn use_thread_variant(
        &self,
        thread: &str,
        group: &str,
        variant: usize,
        message: &str,
    ) -> Result<bool, StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        state.touch(Kept::Thread, thread, now);
        let thread = state.threads.entry(thread.to_string()).or_default();
        let holder = thread
            .variants
            .entry(format!("{group}:{variant}"))
            .or_insert_with(|| message.to_string());
        Ok(holder == message)
    }

    async fn recent(&self, ring: &str) -> Result<Recent, StateError> {
        Ok(self
            .state
            .lock()
            .rings
            .get(ring)
            .cloned()
            .unwrap_or_default())
    }

    async fn swap_recent(
        &self,
        ring: &str,
        expected: u64,
        variants: &[usize],
    ) -> Result<bool, StateError> {
        let now = self.now_us();
        let mut state = self.lock();
        state.touch(Kept::Ring, ring, now);
        let current = state.rings.entry(ring.to_string()).or_default();
        if current.version != expected {
            return Ok(false);
        }
        current.version += 1;
        current.variants = variants.to_vec();
        Ok(true)
    }
}
