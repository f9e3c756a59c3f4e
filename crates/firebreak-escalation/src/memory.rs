//! The in-process case store of the embedded mode. One lock makes every commit atomic,
//! exactly as the Redis script does. What Redis expires goes here too: resolved cases
//! after [`RESOLVED_RETENTION`], pointers after their TTL (or with the case they lead
//! to), conversations after the text retention; swept at most every few seconds.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::conversation::{ConversationEntry, in_order};
use crate::model::{Case, CaseEvent, CaseStatus};
use crate::repo::{
    CaseRepo, Commit, EVENT_RETENTION, Expect, Pointer, PointerOp, RESOLVED_RETENTION, RepoError,
};

/// The longest time between two sweeps of what expired: each looks at every record.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    cases: HashMap<String, Case>,
    /// When each resolved case goes, as its Redis key's TTL.
    case_expires: HashMap<String, Instant>,
    last_sweep: Option<Instant>,
    pointers: HashMap<Pointer, (String, Option<Instant>)>,
    events: VecDeque<CaseEvent>,
    head: u64,
    conversations: HashMap<String, Conversation>,
}

#[derive(Default)]
struct Conversation {
    entries: HashMap<String, ConversationEntry>,
    expires: Option<Instant>,
}

impl Conversation {
    fn live(&self) -> bool {
        self.expires.is_none_or(|e| e > Instant::now())
    }
}

impl State {
    fn case(&self, id: &str) -> Option<&Case> {
        let live = self
            .case_expires
            .get(id)
            .is_none_or(|expires| *expires > Instant::now());
        self.cases.get(id).filter(|_| live)
    }

    /// Drops expired cases, pointers, conversations, and what leads to a case gone.
    fn sweep(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .case_expires
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.case_expires.remove(&id);
            self.cases.remove(&id);
        }
        let cases = &self.cases;
        self.pointers.retain(|_, (id, expiry)| {
            expiry.is_none_or(|e| e > now) && cases.contains_key(id.as_str())
        });
        self.conversations
            .retain(|id, conversation| conversation.live() && cases.contains_key(id.as_str()));
        self.last_sweep = Some(now);
    }

    fn pointer(&self, pointer: &Pointer) -> Option<&str> {
        self.pointers
            .get(pointer)
            .filter(|(_, expiry)| expiry.is_none_or(|e| e > Instant::now()))
            .map(|(id, _)| id.as_str())
    }
}

pub struct MemoryCases {
    state: Mutex<State>,
    changes: watch::Sender<u64>,
    retention: usize,
    resolved_retention: Duration,
}

/// What the store holds right now, for tests of its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub cases: usize,
    pub pointers: usize,
    pub conversations: usize,
}

impl std::fmt::Debug for MemoryCases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCases").finish_non_exhaustive()
    }
}

impl Default for MemoryCases {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCases {
    pub fn new() -> Self {
        Self::with_event_retention(EVENT_RETENTION)
    }

    /// A store keeping only `retention` events, to test expired cursors.
    pub fn with_event_retention(retention: usize) -> Self {
        MemoryCases {
            state: Mutex::new(State::default()),
            changes: watch::channel(0).0,
            retention: retention.max(1),
            resolved_retention: RESOLVED_RETENTION,
        }
    }

    /// A store that forgets resolved cases `retention` after their resolution.
    pub fn with_resolved_retention(mut self, retention: Duration) -> Self {
        self.resolved_retention = retention;
        self
    }

    /// What is held, once what expired is swept.
    pub fn held(&self) -> Held {
        let mut state = self.state.lock();
        state.sweep(Instant::now());
        Held {
            cases: state.cases.len(),
            pointers: state.pointers.len(),
            conversations: state.conversations.len(),
        }
    }
}

#[async_trait]
impl CaseRepo for MemoryCases {
    async fn get(&self, id: &str) -> Result<Option<Case>, RepoError> {
        Ok(self.state.lock().case(id).cloned())
    }

    async fn pointer(&self, pointer: &Pointer) -> Result<Option<String>, RepoError> {
        Ok(self.state.lock().pointer(pointer).map(str::to_string))
    }

    async fn commit(&self, commit: &Commit) -> Result<u64, RepoError> {
        let mut state = self.state.lock();
        let now = Instant::now();
        let every = SWEEP_EVERY.min(self.resolved_retention);
        if state
            .last_sweep
            .is_none_or(|at| now.duration_since(at) >= every)
        {
            state.sweep(now);
        }
        let current = state.case(&commit.case.id).map_or(0, |c| c.version);
        if current != commit.expected_version {
            return Err(RepoError::Conflict);
        }
        for op in &commit.pointers {
            if let PointerOp::Set {
                pointer,
                expect: expect @ (Expect::Absent | Expect::Value(_)),
                ..
            } = op
            {
                let held = state.pointer(pointer).map(str::to_string);
                if Expect::from_read(held) != *expect {
                    return Err(RepoError::Conflict);
                }
            }
        }
        let id = commit.case.id.clone();
        for op in &commit.pointers {
            match op {
                PointerOp::Set { pointer, ttl, .. } => {
                    let expiry = ttl.map(|t| Instant::now() + t);
                    state.pointers.insert(pointer.clone(), (id.clone(), expiry));
                }
                PointerOp::Clear { pointer } => {
                    if state.pointer(pointer) == Some(id.as_str()) {
                        state.pointers.remove(pointer);
                    }
                }
            }
        }
        if commit.case.is_resolved() {
            state
                .case_expires
                .insert(id.clone(), now + self.resolved_retention);
        } else {
            state.case_expires.remove(&id);
        }
        state.cases.insert(id, commit.case.clone());
        state.head += 1;
        let cursor = state.head;
        state.events.push_back(CaseEvent {
            cursor,
            kind: commit.event,
            case: commit.case.clone(),
            at: commit.at,
        });
        while state.events.len() > self.retention {
            state.events.pop_front();
        }
        drop(state);
        self.changes.send_replace(cursor);
        Ok(cursor)
    }

    async fn list(&self, status: CaseStatus, limit: usize) -> Result<Vec<Case>, RepoError> {
        let state = self.state.lock();
        let mut cases: Vec<Case> = state
            .cases
            .values()
            .filter(|c| c.status == status && state.case(&c.id).is_some())
            .cloned()
            .collect();
        cases.sort_by(|a, b| a.index_score().total_cmp(&b.index_score()));
        cases.truncate(limit);
        Ok(cases)
    }

    async fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<String>, RepoError> {
        let state = self.state.lock();
        let mut due: Vec<(OffsetDateTime, String)> = state
            .cases
            .values()
            .filter_map(|c| {
                c.next_deadline()
                    .filter(|d| *d <= now)
                    .map(|d| (d, c.id.clone()))
            })
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn events_after(&self, cursor: u64, limit: usize) -> Result<Vec<CaseEvent>, RepoError> {
        let state = self.state.lock();
        if let Some(first) = state.events.front()
            && cursor + 1 < first.cursor
        {
            return Err(RepoError::CursorExpired(cursor));
        }
        Ok(state
            .events
            .iter()
            .filter(|e| e.cursor > cursor)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn head(&self) -> Result<u64, RepoError> {
        Ok(self.state.lock().head)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }

    async fn put_entry(&self, case_id: &str, entry: &ConversationEntry) -> Result<(), RepoError> {
        let mut state = self.state.lock();
        let conversation = state.conversations.entry(case_id.to_string()).or_default();
        if !conversation.live() {
            *conversation = Conversation::default();
        }
        conversation.entries.insert(entry.key(), entry.clone());
        Ok(())
    }

    async fn entries(&self, case_id: &str) -> Result<Vec<ConversationEntry>, RepoError> {
        let state = self.state.lock();
        let entries = state
            .conversations
            .get(case_id)
            .filter(|c| c.live())
            .map(|c| c.entries.values().cloned().collect())
            .unwrap_or_default();
        Ok(in_order(entries))
    }

    async fn expire_entries(
        &self,
        case_id: &str,
        after: Option<std::time::Duration>,
    ) -> Result<(), RepoError> {
        let mut state = self.state.lock();
        if let Some(conversation) = state.conversations.get_mut(case_id)
            && conversation.live()
        {
            conversation.expires = after.map(|a| Instant::now() + a);
        }
        Ok(())
    }

    async fn purge_entries(&self, case_id: &str) -> Result<bool, RepoError> {
        let removed = self.state.lock().conversations.remove(case_id);
        Ok(removed.is_some_and(|c| c.live() && !c.entries.is_empty()))
    }
}
