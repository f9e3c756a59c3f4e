//! Reloads the tokens file while the server runs: a moderator added or a token revoked
//! takes effect within a second on every replica, without a restart.
//!
//! The file is polled (read and hashed every second) rather than watched with inotify:
//! Kubernetes updates a mounted Secret by swapping a symlink, which inotify on the file
//! itself misses, and a poll of a small file costs nothing. An invalid file is refused
//! and the tokens in force stay; so is one that reads empty, since a half-written file
//! must not lock every user out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use firebreak_control::{Audit, AuditEntry};
use firebreak_telemetry::Metrics;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::auth::{Tokens, TokensChange};

pub struct TokenReloader {
    pub path: PathBuf,
    pub tokens: Arc<Tokens>,
    pub audit: Arc<dyn Audit>,
    pub metrics: Metrics,
    pub interval: Duration,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl TokenReloader {
    /// Polls until shutdown. The first read is the file loaded at start-up.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut current = tokio::fs::read(&self.path).await.ok().map(|b| digest(&b));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
            let bytes = match tokio::fs::read(&self.path).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    warn!(path = %self.path.display(), error = %e, "cannot read the tokens file; keeping the tokens in force");
                    continue;
                }
            };
            let seen = digest(&bytes);
            if current == Some(seen) {
                continue;
            }
            let previous = current.replace(seen);
            self.apply(&bytes, previous, seen).await;
        }
    }

    async fn apply(&self, bytes: &[u8], previous: Option<[u8; 32]>, seen: [u8; 32]) {
        let parsed = std::str::from_utf8(bytes)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|text| Tokens::parse(text).map_err(|e| e.to_string()));
        let next = match parsed {
            Ok(next) if next.is_empty() => Err("no tokens in it".to_string()),
            other => other,
        };
        let next = match next {
            Ok(next) => next,
            Err(why) => {
                // The message names a line, never its content.
                error!(path = %self.path.display(), error = why, "tokens file refused; keeping the tokens in force");
                self.metrics.token_reload(false);
                return;
            }
        };
        let change = self.tokens.replace(next);
        self.metrics.token_reload(true);
        info!(
            added = change.added.len(),
            removed = change.removed.len(),
            "tokens file reloaded"
        );
        if !change.is_empty() {
            self.audit(&change, previous, seen).await;
        }
    }

    /// One entry per change of the file, whichever replica writes it first: the id is
    /// derived from the file's old and new digests, and the audit deduplicates by id.
    async fn audit(&self, change: &TokensChange, previous: Option<[u8; 32]>, seen: [u8; 32]) {
        let mut key = previous.map(hex::encode).unwrap_or_default();
        key.push_str(&hex::encode(seen));
        let mut entry = AuditEntry::new(
            "system",
            "tokens.reload",
            "tokens-file",
            format!(
                "{} added, {} removed",
                change.added.len(),
                change.removed.len()
            ),
        )
        .with_detail(serde_json::json!({
            "added": change.added,
            "removed": change.removed,
        }));
        entry.id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).to_string();
        if let Err(e) = self.audit.append(entry).await {
            warn!(error = %e, "could not audit the tokens reload");
        }
    }
}
