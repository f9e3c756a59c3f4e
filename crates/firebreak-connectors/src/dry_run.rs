//! The embedded default: replies are recorded, not sent, so a newcomer can run the whole
//! pipeline with no platform account, and tests can see exactly what would have gone out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tracing::debug;

use crate::{Connector, OutboundReply, SendError, SendReceipt};

const NAME: &str = "dry_run";

/// Keeps the most recent replies in a bounded ring: a long-running demo under a surge
/// must not grow memory without limit.
pub struct DryRunConnector {
    capacity: usize,
    // A plain mutex is right here: it is held for a push, never across an await.
    recent: Mutex<VecDeque<OutboundReply>>,
    total: AtomicU64,
}

impl DryRunConnector {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        DryRunConnector {
            capacity,
            recent: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            total: AtomicU64::new(0),
        }
    }

    /// The most recent replies, oldest first.
    pub fn sent(&self) -> Vec<OutboundReply> {
        self.recent.lock().iter().cloned().collect()
    }

    /// Every reply ever recorded, including those the ring has since dropped.
    pub fn total_sent(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

impl Default for DryRunConnector {
    fn default() -> Self {
        DryRunConnector::new(10_000)
    }
}

#[async_trait::async_trait]
impl Connector for DryRunConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, reply: &OutboundReply) -> Result<SendReceipt, SendError> {
        let sequence = {
            let mut recent = self.recent.lock();
            if recent.len() == self.capacity {
                recent.pop_front();
            }
            recent.push_back(reply.clone());
            self.total.fetch_add(1, Ordering::Relaxed) + 1
        };
        debug!(message_id = %reply.message_id, channel = %reply.channel, "dry-run reply recorded");
        Ok(SendReceipt::new(NAME, Some(format!("dry-run-{sequence}"))))
    }
}
