//! The in-memory adapter of [`Budget`] and [`Ledger`], for the embedded single-process
//! mode and unit tests. Same semantics as the Redis adapter (one conformance suite),
//! with the process's monotonic clock in place of Redis `TIME`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::gcra::{self, Verdict};
use crate::port::{Budget, Claim, ClaimState, Grant, Ledger, Rate, Recent, StateError, Ticket};

const STALE_WAITER: Duration = Duration::from_secs(90);

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
    /// Added to the wall clock for claims (see `advance_clock`).
    clock_offset: Duration,
}

pub struct MemoryReplyState {
    epoch: Instant,
    state: Mutex<State>,
}

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
        MemoryReplyState {
            // Start the clock well above 0 so "now minus stale" never underflows.
            epoch: Instant::now() - Duration::from_secs(3600),
            state: Mutex::new(State::default()),
        }
    }

    /// Moves the ledger's clock forward, as time passing would: for tests of leases.
    pub fn advance_clock(&self, by: Duration) {
        self.state.lock().clock_offset += by;
    }

    fn wall_clock_ms(&self) -> u64 {
        let offset = self.state.lock().clock_offset;
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
        let mut state = self.state.lock();
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
        let mut state = self.state.lock();
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
        let mut state = self.state.lock();
        if let Some(tat) = state.tats.get_mut(key) {
            *tat = gcra::refund(*tat, now, rate);
        }
        Ok(())
    }

    async fn leave_queue(&self, key: &str, ticket: &Ticket) -> Result<(), StateError> {
        if let Some(line) = self.state.lock().lines.get_mut(key) {
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
        let mut state = self.state.lock();
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
        let mut state = self.state.lock();
        if state.authors.get(key).is_some_and(|(h, _)| h == message) {
            state.authors.remove(key);
        }
        Ok(())
    }

    async fn reserve_thread(&self, key: &str, message: &str, cap: u32) -> Result<bool, StateError> {
        let mut state = self.state.lock();
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
        if let Some(thread) = self.state.lock().threads.get_mut(key) {
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
        let mut state = self.state.lock();
        if let Some(existing) = state.claims.get(message) {
            return Ok(Some(existing.clone()));
        }
        state.claims.insert(message.to_string(), stamped);
        Ok(None)
    }

    async fn clock_ms(&self) -> Result<u64, StateError> {
        // One process, one clock.
        Ok(self.wall_clock_ms())
    }

    async fn get_claim(&self, message: &str) -> Result<Option<Claim>, StateError> {
        Ok(self.state.lock().claims.get(message).cloned())
    }

    async fn mark_sent(&self, message: &str, connector: &str) -> Result<(), StateError> {
        if let Some(claim) = self.state.lock().claims.get_mut(message) {
            claim.state = ClaimState::Sent;
            claim.connector = connector.to_string();
        }
        Ok(())
    }

    async fn drop_claim(&self, message: &str) -> Result<(), StateError> {
        self.state.lock().claims.remove(message);
        Ok(())
    }

    async fn count_deferral(&self, message: &str) -> Result<u32, StateError> {
        let mut state = self.state.lock();
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
        let state = self.state.lock();
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
        let mut state = self.state.lock();
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
        let mut state = self.state.lock();
        let current = state.rings.entry(ring.to_string()).or_default();
        if current.version != expected {
            return Ok(false);
        }
        current.version += 1;
        current.variants = variants.to_vec();
        Ok(true)
    }
}
