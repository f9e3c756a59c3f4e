//! Keeps ingest's spill-over index ([`SpillIndex`]) in step with the moderation cases,
//! by reading the same case feed moderators watch: a snapshot of the unresolved cases,
//! then every change. On a feed error the index is rebuilt from a new snapshot.

use std::sync::Arc;
use std::time::Duration;

use firebreak_escalation::Cases;
use firebreak_escalation::model::Case;
use firebreak_pipeline::spill_index::{CaseView, SpillIndex};
use futures::StreamExt as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Pause before reading the feed again after it failed.
const RETRY: Duration = Duration::from_secs(1);

pub fn spawn(
    tasks: &mut JoinSet<()>,
    cases: &Arc<Cases>,
    index: &Arc<SpillIndex>,
    shutdown: &CancellationToken,
) {
    tasks.spawn(run(cases.clone(), index.clone(), shutdown.clone()));
}

fn view(case: &Case) -> CaseView<'_> {
    CaseView {
        id: &case.id,
        channel: case.channel,
        visibility: case.visibility,
        author: &case.author_id,
        thread: &case.thread_id,
        resolved: case.is_resolved(),
        p1: case.priority == firebreak_core::Priority::P1,
    }
}

async fn run(cases: Arc<Cases>, index: Arc<SpillIndex>, shutdown: CancellationToken) {
    loop {
        let mut events = std::pin::pin!(cases.watch(0));
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = events.next() => next,
            };
            match next {
                Some(Ok(event)) => index.observe(view(&event.case)),
                Some(Err(e)) => {
                    warn!(error = %e, "the case feed of the spill-over index failed; reading a new snapshot");
                    break;
                }
                None => break,
            }
        }
        index.clear();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}
