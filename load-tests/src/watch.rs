//! A moderator's `Moderation/Watch` stream, timing when each message first shows up in
//! a case event and at which priority, and when each case first shows up at P1 with
//! the messages that made it so. The P1 delivery latency is that time minus the time
//! ingest accepted the message.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use firebreak_core::MessageId;
use firebreak_proto::v1 as pb;
use futures::StreamExt as _;
use parking_lot::Mutex;
use tonic::transport::Endpoint;

use crate::measure::unix_ms;

/// When a message was first seen in a case, and the case's priority then.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub at_ms: f64,
    /// 1 for P1 ... 4 for P4.
    pub priority: i32,
}

/// A case's first event at P1: when the watcher got it, and the messages that event
/// added to the case (one of them raised it to P1; the case is not known earlier).
#[derive(Clone, Debug)]
pub struct P1Case {
    pub at_ms: f64,
    pub triggers: Vec<MessageId>,
    /// What made it P1, as far as its flags tell ([`p1_reason`]).
    pub reason: &'static str,
    /// Its flags' kinds then.
    pub flags: Vec<String>,
    /// For a spill-over: when the watcher first saw the private case it is linked to.
    /// Before that moment nothing could know the public message was P1.
    pub linked_seen_ms: Option<f64>,
}

/// The flag most likely to have made a case P1, in the order the ranking puts them;
/// "other" when none of them is there (an influencer, a repeat complainer...).
pub fn p1_reason(flags: &[pb::Flag]) -> &'static str {
    const RANKED: [&str; 5] = [
        "self_harm",
        "threat",
        "spill_over",
        "health_incident",
        "hate",
    ];
    RANKED
        .into_iter()
        .find(|kind| flags.iter().any(|f| f.kind == *kind))
        .unwrap_or("other")
}

#[derive(Default)]
struct Log {
    messages: HashMap<MessageId, Seen>,
    /// Per case: the messages it was seen with so far, and its first P1 event.
    cases: HashMap<String, (HashSet<MessageId>, Option<P1Case>)>,
    /// When each case was first seen.
    first_seen: HashMap<String, f64>,
}

impl Log {
    fn note(&mut self, at_ms: f64, case: &pb::Case) {
        let ids: Vec<MessageId> = case
            .message_ids
            .iter()
            .filter_map(|id| MessageId::parse(id))
            .collect();
        for id in &ids {
            self.messages.entry(*id).or_insert(Seen {
                at_ms,
                priority: case.priority,
            });
        }
        self.first_seen.entry(case.id.clone()).or_insert(at_ms);
        let linked_seen_ms = (!case.linked_case_id.is_empty())
            .then(|| self.first_seen.get(&case.linked_case_id).copied())
            .flatten();
        let (known, p1) = self.cases.entry(case.id.clone()).or_default();
        let added: Vec<MessageId> = ids.into_iter().filter(|id| known.insert(*id)).collect();
        if case.priority == 1 && p1.is_none() {
            *p1 = Some(P1Case {
                at_ms,
                triggers: added,
                reason: p1_reason(&case.flags),
                flags: case.flags.iter().map(|f| f.kind.clone()).collect(),
                linked_seen_ms,
            });
        }
    }
}

pub struct Watcher {
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Opens the stream (from now) and keeps reading it until dropped.
    pub async fn start(grpc: &str, token: &str) -> anyhow::Result<Watcher> {
        let channel = Endpoint::from_shared(grpc.to_string())?.connect().await?;
        let mut client = pb::moderation_client::ModerationClient::new(channel);
        let mut request = tonic::Request::new(pb::WatchRequest { cursor: 0 });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let mut events = client.watch(request).await?.into_inner();
        let log: Arc<Mutex<Log>> = Arc::default();
        let sink = log.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(response)) = events.next().await {
                let at_ms = unix_ms();
                let Some(case) = response.event.and_then(|e| e.case) else {
                    continue;
                };
                sink.lock().note(at_ms, &case);
            }
        });
        Ok(Watcher { log, task })
    }

    pub fn seen(&self) -> HashMap<MessageId, Seen> {
        self.log.lock().messages.clone()
    }

    /// Every case's first P1 event.
    pub fn p1_cases(&self) -> Vec<P1Case> {
        self.log
            .lock()
            .cases
            .values()
            .filter_map(|(_, p1)| p1.clone())
            .collect()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, priority: i32, messages: &[MessageId], flags: &[&str]) -> pb::Case {
        pb::Case {
            id: id.into(),
            priority,
            message_ids: messages.iter().map(|m| m.to_string()).collect(),
            flags: flags
                .iter()
                .map(|kind| pb::Flag {
                    kind: (*kind).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_case_raised_to_p1_is_timed_from_the_messages_that_raised_it() {
        let id = |n: &str| MessageId::derive(firebreak_core::Channel::X, n);
        let (a, b, c) = (id("a"), id("b"), id("c"));
        let mut log = Log::default();
        log.note(10.0, &case("k1", 3, &[a], &[]));
        log.note(20.0, &case("k1", 1, &[a, b], &["influencer", "threat"]));
        // Later events of a case already at P1 do not count again.
        log.note(30.0, &case("k1", 1, &[a, b, c], &["threat"]));
        log.note(40.0, &case("k2", 1, &[c], &[]));
        let mut cases: Vec<P1Case> = log.cases.into_values().filter_map(|(_, p1)| p1).collect();
        cases.sort_by(|x, y| x.at_ms.total_cmp(&y.at_ms));
        assert_eq!(cases.len(), 2);
        assert_eq!((cases[0].at_ms, cases[0].reason), (20.0, "threat"));
        assert_eq!(cases[0].triggers, vec![b]);
        // A case first seen at P1 is timed from all its messages (c was already seen
        // in k1, but not in k2).
        assert_eq!(
            (cases[1].triggers.clone(), cases[1].reason),
            (vec![c], "other")
        );
        assert_eq!(log.messages[&a].priority, 3);
        assert_eq!(log.messages[&c].at_ms, 30.0);
    }

    #[test]
    fn a_spill_over_case_knows_when_its_private_case_was_first_seen() {
        let id = |n: &str| MessageId::derive(firebreak_core::Channel::X, n);
        let mut log = Log::default();
        log.note(5.0, &case("private", 3, &[id("dm")], &[]));
        let mut public = case("public", 1, &[id("post")], &["spill_over"]);
        public.linked_case_id = "private".into();
        log.note(9.0, &public);
        let (_, p1) = &log.cases["public"];
        assert_eq!(p1.as_ref().unwrap().linked_seen_ms, Some(5.0));
    }
}
