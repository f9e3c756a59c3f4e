//! The embedded control bucket: revisions, compare-and-set and watches, as JetStream KV.

use std::collections::HashMap;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::port::{BusError, Kv, KvEntry};

#[derive(Default)]
pub(super) struct MemoryKv {
    entries: Mutex<(u64, HashMap<String, KvEntry>)>,
    changes: std::sync::OnceLock<broadcast::Sender<KvEntry>>,
}

impl MemoryKv {
    fn sender(&self) -> &broadcast::Sender<KvEntry> {
        self.changes.get_or_init(|| broadcast::channel(256).0)
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, BusError> {
        Ok(self.entries.lock().1.get(key).cloned())
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        let entry = {
            let mut entries = self.entries.lock();
            entries.0 += 1;
            let entry = KvEntry {
                key: key.to_string(),
                value,
                revision: entries.0,
            };
            entries.1.insert(key.to_string(), entry.clone());
            entry
        };
        let revision = entry.revision;
        let _ = self.sender().send(entry);
        Ok(revision)
    }

    async fn put_if(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
    ) -> Result<Option<u64>, BusError> {
        let entry = {
            let mut entries = self.entries.lock();
            let current = entries.1.get(key).map_or(0, |e| e.revision);
            if current != expected {
                return Ok(None);
            }
            entries.0 += 1;
            let entry = KvEntry {
                key: key.to_string(),
                value,
                revision: entries.0,
            };
            entries.1.insert(key.to_string(), entry.clone());
            entry
        };
        let revision = entry.revision;
        let _ = self.sender().send(entry);
        Ok(Some(revision))
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, BusError> {
        let mut keys: Vec<String> = self
            .entries
            .lock()
            .1
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn watch(&self, key: &str) -> Result<BoxStream<'static, KvEntry>, BusError> {
        // Subscribe before reading the current value so no change falls in between.
        let receiver = self.sender().subscribe();
        let current = self.get(key).await?;
        let key = key.to_string();
        let last_seen = current.as_ref().map_or(0, |e| e.revision);
        let changes =
            tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |change| {
                let key = key.clone();
                async move {
                    change
                        .ok()
                        .filter(|e| e.key == key && e.revision > last_seen)
                }
            });
        Ok(futures::stream::iter(current).chain(changes).boxed())
    }
}
