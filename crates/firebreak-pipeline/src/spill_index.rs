//! Ingest's copy of who has an open private case, so that a public message from such
//! an author (or on such a thread) takes the urgent lane.
//!
//! A private case going public is P1, but classify only learns it when it reads the
//! message, and in a surge the normal lane's backlog is seconds to minutes long. Ingest
//! cannot afford a store lookup per message, so it keeps this index in memory, fed by
//! the case feed (`Cases::watch`, the one moderators read). It is a hint for the lane
//! and nothing else: classify still looks the case up itself, so a stale entry costs a
//! message a place in the urgent lane, and a missing one (a case opened a moment ago,
//! or beyond [`MAX_CASES`]) costs it its place in the queue, never its priority.
//!
//! Keys are 64-bit hashes of (family, author) and (channel, thread): a collision only
//! sends a message through the urgent lane for nothing.
//!
//! Classify reads the same index to skip its own lookup when the index can rule a case
//! out ([`SpillIndex::rules_out_open_private_case`]): only when the feed's snapshot was
//! whole, nothing overflowed, and the feed had read the whole case log at least
//! [`TRUST_MARGIN`] after the message was accepted, so every case opened before the
//! message came in is known. In a surge the backlog makes that the rule (one Redis
//! round trip fewer per public message); a message classified within a second of its
//! arrival is looked up as before. Any collision or stale entry only means a lookup.
//!
//! A spill-over that would only join a public case that is already P1 is not hinted:
//! escalation files a message into its thread's case, or else into its author's case
//! on that channel of the last ten minutes ([`GROUPING`]), and joining a P1 case
//! brings no new P1 to a moderator. The index mirrors that choice from the case feed. Without this, the busy authors of the standard surge who had an open
//! private case sent 8,717 public messages down the lane, against about 900 self-harm
//! and threat messages; with it, the lane takes the spill-overs that open a P1 case.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use firebreak_core::{Channel, Message, Visibility};
use parking_lot::RwLock;
use time::OffsetDateTime;

/// Most open private cases held. Each costs about 100 bytes, so the index stays under
/// ~20 MB; past it, new cases are left out (and counted) until some are resolved.
pub const MAX_CASES: usize = 200_000;

/// How long escalation keeps filing an author's messages on one channel into the same
/// case after the last one (its default author window).
pub const GROUPING: Duration = Duration::from_secs(10 * 60);

/// How long after a message's acceptance the feed must have read the whole case log
/// for classify to trust the index's "no open case". It covers the clock difference
/// between the ingest that stamped the message and the classify that reads the index,
/// and the moment between a case's commit and its event.
pub const TRUST_MARGIN: Duration = Duration::from_secs(1);

/// The urgent-lane hint kind of a spill-over (ingest's `firebreak_ingest_urgent_total`).
pub const HINT_KIND: &str = "spill_over";

/// A case as the index needs it, taken from a case event.
#[derive(Clone, Copy, Debug)]
pub struct CaseView<'a> {
    pub id: &'a str,
    pub channel: Channel,
    pub visibility: Visibility,
    pub author: &'a str,
    pub thread: &'a str,
    pub resolved: bool,
    pub p1: bool,
}

#[derive(Debug, Default)]
pub struct SpillIndex {
    inner: RwLock<Inner>,
    /// What a public message would join, as far as the feed tells.
    public: parking_lot::Mutex<PublicCases>,
    /// The feed's snapshot held every unresolved case (see [`SpillIndex::snapshot_read`]).
    whole: AtomicBool,
    /// Unix milliseconds at which a read of the case log that found everything began;
    /// 0 until the first such read after a snapshot.
    caught_up_ms: AtomicI64,
}

#[derive(Debug, Default)]
struct PublicCases {
    /// (channel, thread) of an unresolved case → whether it is P1.
    threads: HashMap<u64, bool>,
    /// (channel, author) of an unresolved public P1 case → when its last event came.
    authors: HashMap<u64, Instant>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Open private case id → its two keys.
    cases: HashMap<Box<str>, [u64; 2]>,
    /// Key → how many open private cases carry it.
    keys: HashMap<u64, u32>,
    /// Cases left out because the index was full.
    overflow: u64,
}

impl Inner {
    /// Whether an open private case carries the author's or the thread's key.
    fn spills(&self, message: &Message) -> bool {
        !self.keys.is_empty()
            && (self
                .keys
                .contains_key(&author_key(message.channel, &message.author.id))
                || self
                    .keys
                    .contains_key(&thread_key(message.channel, &message.thread_id)))
    }
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn author_key(channel: Channel, author: &str) -> u64 {
    key(("author", channel.family(), author))
}

fn public_case_key(channel: Channel, author: &str) -> u64 {
    key(("public", channel.as_str(), author))
}

fn thread_key(channel: Channel, thread: &str) -> u64 {
    key(("thread", channel.as_str(), thread))
}

fn key(parts: impl Hash) -> u64 {
    // `DefaultHasher::new()` has fixed keys: the same value hashes the same way in
    // every call of this process, which is all the index needs.
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

impl SpillIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in one case event: an open private case is added, anything else (resolved,
    /// or public) removed; an open public P1 case is remembered for [`GROUPING`].
    pub fn observe(&self, case: CaseView<'_>) {
        self.observe_at(case, Instant::now());
    }

    fn observe_at(&self, case: CaseView<'_>, now: Instant) {
        self.observe_public(case, now);
        let open_private = case.visibility == Visibility::Private && !case.resolved;
        let mut inner = self.inner.write();
        let present = inner.cases.contains_key(case.id);
        match (open_private, present) {
            (true, false) => {
                if inner.cases.len() >= MAX_CASES {
                    inner.overflow += 1;
                    return;
                }
                let keys = [
                    author_key(case.channel, case.author),
                    thread_key(case.channel, case.thread),
                ];
                for key in keys {
                    *inner.keys.entry(key).or_default() += 1;
                }
                inner.cases.insert(case.id.into(), keys);
            }
            (false, true) => {
                let Some(keys) = inner.cases.remove(case.id) else {
                    return;
                };
                for key in keys {
                    if let Some(count) = inner.keys.get_mut(&key) {
                        *count -= 1;
                        if *count == 0 {
                            inner.keys.remove(&key);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The public side: which thread cases are P1, which authors have a P1 case.
    fn observe_public(&self, case: CaseView<'_>, now: Instant) {
        let mut public = self.public.lock();
        // A hint cache: when full, start again (more hints, never fewer P1s).
        if public.threads.len() >= MAX_CASES || public.authors.len() >= MAX_CASES {
            *public = PublicCases::default();
        }
        let thread = thread_key(case.channel, case.thread);
        if case.resolved {
            public.threads.remove(&thread);
        } else {
            public.threads.insert(thread, case.p1);
        }
        if case.visibility == Visibility::Public {
            let author = public_case_key(case.channel, case.author);
            if case.p1 && !case.resolved {
                public.authors.insert(author, now);
            } else if case.resolved {
                public.authors.remove(&author);
            }
        }
    }

    /// Forgets everything, before the feed starts again from a snapshot.
    pub fn clear(&self) {
        self.whole.store(false, Ordering::SeqCst);
        self.caught_up_ms.store(0, Ordering::SeqCst);
        let mut inner = self.inner.write();
        inner.cases.clear();
        inner.keys.clear();
        inner.overflow = 0;
        *self.public.lock() = PublicCases::default();
    }

    /// The feed observed its snapshot of unresolved cases; `whole` when the snapshot
    /// was not cut at its limit.
    pub fn snapshot_read(&self, whole: bool) {
        self.whole.store(whole, Ordering::SeqCst);
    }

    /// The feed read every case event there was, with a read that began at `as_of`.
    pub fn caught_up(&self, as_of: OffsetDateTime) {
        self.caught_up_ms
            .fetch_max(unix_ms(as_of), Ordering::SeqCst);
    }

    /// Whether the index alone can say that `message` joins no open private case, so
    /// that classify need not look it up: a private message never does; a public one
    /// only when the index is whole and caught up past its acceptance (module docs).
    pub fn rules_out_open_private_case(&self, message: &Message) -> bool {
        if message.visibility != Visibility::Public {
            return true;
        }
        let trusted_from = unix_ms(message.received_at + TRUST_MARGIN);
        let caught_up = self.caught_up_ms.load(Ordering::SeqCst);
        if !self.whole.load(Ordering::SeqCst) || caught_up == 0 || caught_up < trusted_from {
            return false;
        }
        let inner = self.inner.read();
        inner.overflow == 0 && !inner.spills(message)
    }

    /// Whether `message` is public and its author (within the channel's family) or its
    /// thread has an open private case.
    pub fn spills(&self, message: &Message) -> bool {
        message.visibility == Visibility::Public && self.inner.read().spills(message)
    }

    /// Whether `message` should take the urgent lane as a spill-over: it spills, and
    /// the case it would join (its thread's, else its author's public one on the
    /// channel) is not P1 already.
    pub fn hint(&self, message: &Message) -> bool {
        self.hint_at(message, Instant::now())
    }

    fn hint_at(&self, message: &Message, now: Instant) -> bool {
        if !self.spills(message) {
            return false;
        }
        let public = self.public.lock();
        match public
            .threads
            .get(&thread_key(message.channel, &message.thread_id))
        {
            Some(p1) => !p1,
            None => public
                .authors
                .get(&public_case_key(message.channel, &message.author.id))
                .is_none_or(|at| now.saturating_duration_since(*at) >= GROUPING),
        }
    }

    /// Open private cases held, and cases left out because the index was full.
    pub fn len(&self) -> (usize, u64) {
        let inner = self.inner.read();
        (inner.cases.len(), inner.overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_on(channel: Channel, visibility: Visibility, author: &str, thread: &str) -> Message {
        let mut message = firebreak_triage::dry_run_message("hello", visibility);
        message.channel = channel;
        message.author.id = author.into();
        message.thread_id = thread.into();
        message
    }

    fn private_case<'a>(id: &'a str, channel: Channel, author: &'a str) -> CaseView<'a> {
        CaseView {
            id,
            channel,
            visibility: Visibility::Private,
            author,
            thread: "dm-thread",
            resolved: false,
            p1: false,
        }
    }

    #[test]
    fn classify_trusts_the_index_only_when_whole_and_caught_up_past_the_message() {
        let index = SpillIndex::new();
        let mut public = message_on(Channel::Messenger, Visibility::Public, "u1", "t1");
        let accepted = OffsetDateTime::now_utc();
        public.received_at = accepted;
        let later = accepted + TRUST_MARGIN + Duration::from_millis(1);
        // Nothing read yet: look it up.
        assert!(!index.rules_out_open_private_case(&public));
        index.snapshot_read(true);
        assert!(!index.rules_out_open_private_case(&public));
        // Caught up, but not long enough after the message came in.
        index.caught_up(accepted);
        assert!(!index.rules_out_open_private_case(&public));
        index.caught_up(later);
        assert!(index.rules_out_open_private_case(&public));
        // A private message never needs the lookup.
        let private = message_on(Channel::Messenger, Visibility::Private, "u1", "t1");
        assert!(index.rules_out_open_private_case(&private));
        // An open private case of the author: look it up.
        index.observe(private_case("c1", Channel::Messenger, "u1"));
        assert!(!index.rules_out_open_private_case(&public));
        // A cut snapshot or a clear: look everything up again.
        index.clear();
        assert!(!index.rules_out_open_private_case(&public));
        index.snapshot_read(false);
        index.caught_up(later);
        assert!(!index.rules_out_open_private_case(&public));
    }

    #[test]
    fn an_overflowing_index_rules_nothing_out() {
        let index = SpillIndex::new();
        index.snapshot_read(true);
        index.inner.write().overflow = 1;
        let mut public = message_on(Channel::Messenger, Visibility::Public, "u9", "t9");
        public.received_at = OffsetDateTime::now_utc() - TRUST_MARGIN * 2;
        index.caught_up(OffsetDateTime::now_utc());
        assert!(!index.rules_out_open_private_case(&public));
    }

    #[test]
    fn a_public_message_of_an_author_with_an_open_private_case_spills() {
        let index = SpillIndex::new();
        index.observe(private_case("c1", Channel::Messenger, "u1"));
        // Messenger and Facebook comments share Meta's ids: one family.
        let public = message_on(Channel::Facebook, Visibility::Public, "u1", "t9");
        assert!(index.spills(&public));
        // Another platform's user with the same numeric id is someone else.
        let elsewhere = message_on(Channel::X, Visibility::Public, "u1", "t9");
        assert!(!index.spills(&elsewhere));
        // A private message is not a spill-over.
        let private = message_on(Channel::Facebook, Visibility::Private, "u1", "t9");
        assert!(!index.spills(&private));
    }

    #[test]
    fn the_thread_of_an_open_private_case_spills_too() {
        let index = SpillIndex::new();
        index.observe(private_case("c1", Channel::Instagram, "u1"));
        let other_author = message_on(Channel::Instagram, Visibility::Public, "u2", "dm-thread");
        assert!(index.spills(&other_author));
    }

    #[test]
    fn resolving_the_case_or_making_it_public_removes_it() {
        let index = SpillIndex::new();
        let public = message_on(Channel::X, Visibility::Public, "u1", "t9");
        index.observe(private_case("c1", Channel::X, "u1"));
        index.observe(private_case("c2", Channel::X, "u1"));
        index.observe(CaseView {
            resolved: true,
            ..private_case("c1", Channel::X, "u1")
        });
        // c2 still holds the author.
        assert!(index.spills(&public));
        index.observe(CaseView {
            visibility: Visibility::Public,
            ..private_case("c2", Channel::X, "u1")
        });
        assert!(!index.spills(&public));
        assert_eq!(index.len(), (0, 0));
        // Events of the same open case again change nothing.
        index.observe(private_case("c3", Channel::X, "u1"));
        index.observe(private_case("c3", Channel::X, "u1"));
        assert_eq!(index.len(), (1, 0));
        index.clear();
        assert!(!index.spills(&public));
    }

    #[test]
    fn a_spill_over_joining_a_public_p1_case_of_its_author_is_not_hinted() {
        let index = SpillIndex::new();
        index.observe(private_case("c1", Channel::X, "u1"));
        let message = message_on(Channel::X, Visibility::Public, "u1", "t1");
        let start = Instant::now();
        assert!(index.hint_at(&message, start));
        let public_p1 = CaseView {
            visibility: Visibility::Public,
            p1: true,
            thread: "t1",
            ..private_case("c2", Channel::X, "u1")
        };
        index.observe_at(public_p1, start);
        let next = message_on(Channel::X, Visibility::Public, "u1", "t2");
        assert!(!index.hint_at(&next, start + Duration::from_secs(60)));
        assert!(
            index.spills(&next),
            "it still spills; only the hint is spared"
        );
        // On another channel it would open a case of its own.
        index.observe(private_case("c3", Channel::Facebook, "u1"));
        let elsewhere = message_on(Channel::Facebook, Visibility::Public, "u1", "t3");
        assert!(index.hint_at(&elsewhere, start + Duration::from_secs(60)));
        // In a thread whose case is not P1, it raises that case: hinted.
        index.observe_at(
            CaseView {
                visibility: Visibility::Public,
                thread: "busy-post",
                ..private_case("c4", Channel::X, "someone-else")
            },
            start,
        );
        let in_thread = message_on(Channel::X, Visibility::Public, "u1", "busy-post");
        assert!(index.hint_at(&in_thread, start + Duration::from_secs(60)));
        // Past the grouping window, or once the public case is resolved, it is hinted.
        assert!(index.hint_at(&next, start + GROUPING));
        index.observe_at(
            CaseView {
                resolved: true,
                ..public_p1
            },
            start,
        );
        assert!(index.hint_at(&next, start + Duration::from_secs(60)));
    }
}
