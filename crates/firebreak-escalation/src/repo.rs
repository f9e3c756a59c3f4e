//! The storage port of cases. It knows nothing of the workflow: it loads cases and
//! commits a new version atomically (compare-and-set on the version and on the grouping
//! pointers), together with the status index, the SLA deadline and one event in the
//! log. Both adapters run the same conformance suite (`tests/conformance.rs`).

use std::time::Duration;

use async_trait::async_trait;
use firebreak_core::{Channel, MessageId, Visibility};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::conversation::ConversationEntry;
use crate::model::{Case, CaseError, CaseEvent, CaseEventKind, CaseStatus};

/// A lookup key that leads to a case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pointer {
    /// Which case an escalated message went to (idempotency of redeliveries).
    Message(MessageId),
    /// The case of a thread: one case per thread.
    Thread(Channel, String),
    /// The recent case of an author, for grouping across threads within a short window.
    Author(Channel, Visibility, String),
    /// The unresolved private case of an author, for spill-over detection, keyed by the
    /// channel's family (an author id names one person only within its platform).
    /// Built with [`Pointer::private`]; holds the family, so two channels of one family
    /// are one pointer in every store.
    Private(&'static str, String),
    /// The same pointer as releases before the family wrote it (`p:AUTHOR`). Never
    /// written now: read as a fallback for cases opened before the upgrade (checked
    /// against the case's own channel) and cleared when such a case is resolved.
    UnscopedPrivate(String),
}

impl Pointer {
    /// The open-private-case pointer of an author on a channel.
    pub fn private(channel: Channel, author: &str) -> Self {
        Pointer::Private(channel.family(), author.to_string())
    }

    /// The key suffix, unique per pointer.
    pub fn key(&self) -> String {
        match self {
            Pointer::Message(id) => format!("m:{id}"),
            Pointer::Thread(channel, thread) => format!("t:{channel}:{thread}"),
            Pointer::Author(channel, visibility, author) => {
                format!("a:{channel}:{}:{author}", visibility.as_str())
            }
            Pointer::Private(family, author) => format!("pf:{family}:{author}"),
            Pointer::UnscopedPrivate(author) => format!("p:{author}"),
        }
    }
}

/// What a pointer must hold for a commit to go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Any,
    Absent,
    Value(String),
}

impl Expect {
    pub fn from_read(value: Option<String>) -> Self {
        value.map_or(Expect::Absent, Expect::Value)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PointerOp {
    /// Points at the committed case, if the pointer holds what was expected.
    Set {
        pointer: Pointer,
        expect: Expect,
        ttl: Option<Duration>,
    },
    /// Removes the pointer if it still points at the committed case.
    Clear { pointer: Pointer },
}

/// One atomic change of one case.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The new state; its `version` must be `expected_version + 1`.
    pub case: Case,
    /// 0 creates the case (it must not exist).
    pub expected_version: u64,
    /// The status the case had, so its index entry moves.
    pub previous_status: Option<CaseStatus>,
    pub pointers: Vec<PointerOp>,
    pub event: CaseEventKind,
    pub at: OffsetDateTime,
}

impl Commit {
    pub fn new(
        mut case: Case,
        previous: Option<&Case>,
        event: CaseEventKind,
        at: OffsetDateTime,
    ) -> Self {
        let expected_version = previous.map_or(0, |p| p.version);
        case.version = expected_version + 1;
        Commit {
            case,
            expected_version,
            previous_status: previous.map(|p| p.status),
            pointers: Vec::new(),
            event,
            at,
        }
    }

    pub fn set(mut self, pointer: Pointer, expect: Expect, ttl: Option<Duration>) -> Self {
        self.pointers.push(PointerOp::Set {
            pointer,
            expect,
            ttl,
        });
        self
    }

    pub fn clear(mut self, pointer: Pointer) -> Self {
        self.pointers.push(PointerOp::Clear { pointer });
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The case or a pointer changed since it was read; read again and retry.
    #[error("concurrent change")]
    Conflict,
    #[error("cursor {0} expired")]
    CursorExpired(u64),
    #[error("case store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt case record: {0}")]
    Corrupt(String),
}

impl From<RepoError> for CaseError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict => CaseError::Conflict("concurrent change, try again".into()),
            RepoError::CursorExpired(c) => CaseError::CursorExpired(c),
            RepoError::Unavailable(e) | RepoError::Corrupt(e) => CaseError::Unavailable(e),
        }
    }
}

/// What filing an escalated message reads before it decides where the message goes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilingView {
    /// The case the message already went to (a redelivery).
    pub filed: Option<String>,
    /// What the thread pointer holds: the commit expects it unchanged.
    pub thread_held: Option<String>,
    /// The case the thread pointer leads to, if it still exists.
    pub thread_case: Option<Case>,
    /// The case the author pointer leads to, if it still exists.
    pub author_case: Option<Case>,
}

/// How long resolved cases are kept (the event log and the audit outlive them).
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// How many events the log keeps; a watcher further behind starts again from 0.
pub const EVENT_RETENTION: usize = 100_000;

#[async_trait]
pub trait CaseRepo: Send + Sync + 'static {
    async fn get(&self, id: &str) -> Result<Option<Case>, RepoError>;

    async fn pointer(&self, pointer: &Pointer) -> Result<Option<String>, RepoError>;

    /// Reads every pointer in `pointers` and the case each leads to (`None` for an
    /// unset pointer or a case gone). The Redis adapter does it in one round trip.
    async fn pointed_cases(&self, pointers: &[Pointer]) -> Result<Vec<Option<Case>>, RepoError> {
        let mut cases = Vec::with_capacity(pointers.len());
        for pointer in pointers {
            cases.push(match self.pointer(pointer).await? {
                Some(id) => self.get(&id).await?,
                None => None,
            });
        }
        Ok(cases)
    }

    /// Everything filing a message reads: the message's, the thread's and the author's
    /// pointers and the cases they lead to. The Redis adapter does it in one round
    /// trip; a message already filed reads nothing more.
    async fn filing_view(
        &self,
        message: &Pointer,
        thread: &Pointer,
        author: &Pointer,
    ) -> Result<FilingView, RepoError> {
        let filed = self.pointer(message).await?;
        if filed.is_some() {
            return Ok(FilingView {
                filed,
                ..FilingView::default()
            });
        }
        let thread_held = self.pointer(thread).await?;
        let thread_case = match &thread_held {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let author_case = self
            .pointed_cases(std::slice::from_ref(author))
            .await?
            .pop()
            .flatten();
        Ok(FilingView {
            filed: None,
            thread_held,
            thread_case,
            author_case,
        })
    }

    /// Applies the commit atomically and returns the event's cursor, or
    /// [`RepoError::Conflict`] (changing nothing) when the case version or a pointer
    /// expectation does not hold.
    async fn commit(&self, commit: &Commit) -> Result<u64, RepoError>;

    /// Commits, then keeps `entry` in the committed case's conversation, which stays
    /// without a TTL while the case is unresolved. The Redis adapter writes the entry
    /// inside the commit's script: one round trip, and no entry for a commit that
    /// conflicted.
    async fn commit_with_entry(
        &self,
        commit: &Commit,
        entry: &ConversationEntry,
    ) -> Result<u64, RepoError> {
        let cursor = self.commit(commit).await?;
        self.put_entry(&commit.case.id, entry).await?;
        if !commit.case.is_resolved() {
            self.expire_entries(&commit.case.id, None).await?;
        }
        Ok(cursor)
    }

    /// Cases in `status`, in index order (P1 first, oldest first; resolved newest
    /// first).
    async fn list(&self, status: CaseStatus, limit: usize) -> Result<Vec<Case>, RepoError>;

    /// Ids of cases whose next deadline is at or before `now`.
    async fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<String>, RepoError>;

    /// Events with a cursor above `cursor`, oldest first, at most `limit`.
    async fn events_after(&self, cursor: u64, limit: usize) -> Result<Vec<CaseEvent>, RepoError>;

    /// The cursor of the newest event (0 when none).
    async fn head(&self) -> Result<u64, RepoError>;

    /// Wakes up with the newest cursor known to have been committed, from any process.
    fn changes(&self) -> watch::Receiver<u64>;

    async fn ping(&self) -> Result<(), RepoError>;

    /// Adds or replaces one entry of a case's conversation (keyed by
    /// [`ConversationEntry::key`], so a redelivered message is stored once).
    async fn put_entry(&self, case_id: &str, entry: &ConversationEntry) -> Result<(), RepoError>;

    /// The case's conversation, oldest first; empty once purged or expired.
    async fn entries(&self, case_id: &str) -> Result<Vec<ConversationEntry>, RepoError>;

    /// Drops the conversation `after` from now (`Some`), or keeps it (`None`, when a
    /// case reopens).
    async fn expire_entries(&self, case_id: &str, after: Option<Duration>)
    -> Result<(), RepoError>;

    /// Deletes the conversation now; true when there was one.
    async fn purge_entries(&self, case_id: &str) -> Result<bool, RepoError>;
}
