//! The live feed of case events for moderators.
//!
//! From cursor 0, a watcher first gets every unresolved case, P1 first, each stamped
//! with the log's head cursor at that moment; then every event after that head, in
//! cursor order. From a cursor it gets every event after it. Events are read from the
//! durable log, never from an in-memory fan-out, so a reconnect resumes with nothing
//! missed; the repo's change signal only says when to read.
//!
//! Live events keep cursor order rather than being re-sorted by priority: a client
//! that resumes from the last cursor it saw must have seen everything before it.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::model::{CaseError, CaseEvent, CaseEventKind, CaseStatus};
use crate::service::Cases;

/// Events read per round trip while catching up.
const BATCH: usize = 500;
/// Most unresolved cases sent in the opening snapshot.
const SNAPSHOT_LIMIT: usize = 10_000;
/// A safety net for a missed wake-up (e.g. while the tail reconnects).
const POLL: Duration = Duration::from_millis(500);

impl Cases {
    /// A stream of case events; see the module docs. It ends with an error when the
    /// store fails or the cursor is older than the retained log.
    pub fn watch(
        self: &Arc<Self>,
        cursor: u64,
    ) -> impl Stream<Item = Result<CaseEvent, CaseError>> + Send + 'static {
        let (sender, receiver) = mpsc::channel(256);
        let cases = self.clone();
        tokio::spawn(async move {
            if let Err(e) = cases.feed(cursor, &sender).await {
                let _ = sender.send(Err(e)).await;
            }
        });
        ReceiverStream::new(receiver)
    }

    async fn feed(
        &self,
        cursor: u64,
        sender: &mpsc::Sender<Result<CaseEvent, CaseError>>,
    ) -> Result<(), CaseError> {
        let mut changes = self.repo().changes();
        let mut position = cursor;
        if cursor == 0 {
            // The head is read before the snapshot: a change racing with it is sent
            // again as a live event, never lost.
            position = self.repo().head().await?;
            let snapshot = self.list(&CaseStatus::UNRESOLVED, SNAPSHOT_LIMIT).await?;
            for case in snapshot {
                let event = CaseEvent {
                    cursor: position,
                    kind: CaseEventKind::Opened,
                    at: case.updated_at,
                    case,
                };
                if sender.send(Ok(event)).await.is_err() {
                    return Ok(());
                }
            }
        }
        loop {
            changes.borrow_and_update();
            let events = self.repo().events_after(position, BATCH).await?;
            let caught_up = events.len() < BATCH;
            for event in events {
                position = event.cursor;
                if sender.send(Ok(event)).await.is_err() {
                    return Ok(());
                }
            }
            if caught_up {
                tokio::select! {
                    _ = sender.closed() => return Ok(()),
                    changed = changes.changed() => {
                        if changed.is_err() {
                            tokio::time::sleep(POLL).await;
                        }
                    }
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }
}
