//! Parsed playbooks, cached by the SHA-256 of their source (which their version is
//! taken from). Listing playbooks, reading the active one and activating one would each
//! parse every stored YAML again (a viewer's `GET /v1/playbooks` re-parsed them all);
//! with the cache a source is parsed once, whoever asks.
//!
//! A refused source is cached too, with its error, so an invalid stored playbook is not
//! parsed again on every listing. The cache holds at most [`MAX_ENTRIES`] sources, about
//! the number a team keeps, and starts over when full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use firebreak_triage::Playbook;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// Sources kept parsed; past this the cache is emptied and refilled as asked.
pub const MAX_ENTRIES: usize = 32;

type Parsed = Result<Playbook, String>;

#[derive(Default)]
pub struct PlaybookCache {
    entries: Mutex<HashMap<[u8; 32], Parsed>>,
    parses: AtomicUsize,
}

impl std::fmt::Debug for PlaybookCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybookCache")
            .field("entries", &self.entries.lock().len())
            .finish()
    }
}

impl PlaybookCache {
    /// The playbook of `source`, parsed the first time it is seen. The error is the
    /// triage crate's message, which names the field and line.
    pub fn load(&self, source: &[u8]) -> Parsed {
        let key: [u8; 32] = Sha256::digest(source).into();
        if let Some(parsed) = self.entries.lock().get(&key) {
            return parsed.clone();
        }
        // Parsed outside the lock: a slow parse does not hold up the cached ones.
        self.parses.fetch_add(1, Ordering::Relaxed);
        let parsed = std::str::from_utf8(source)
            .map_err(|e| format!("not UTF-8 (invalid byte at {})", e.valid_up_to()))
            .and_then(|yaml| Playbook::load(yaml).map_err(|e| e.to_string()));
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, parsed.clone());
        parsed
    }

    /// How many sources were parsed (cache misses) since start-up.
    pub fn parses(&self) -> usize {
        self.parses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_parsed_once_whatever_its_outcome() {
        let cache = PlaybookCache::default();
        let yaml = firebreak_triage::playbook::BUILTIN_YAML.as_bytes();
        let first = cache.load(yaml).unwrap();
        let again = cache.load(yaml).unwrap();
        assert_eq!(first.version(), again.version());
        assert_eq!(cache.parses(), 1);

        let broken = b"name: [unclosed";
        let error = cache.load(broken).unwrap_err();
        assert_eq!(cache.load(broken).unwrap_err(), error);
        assert_eq!(cache.parses(), 2);
        assert!(cache.load(b"\xff").unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = PlaybookCache::default();
        for i in 0..MAX_ENTRIES + 5 {
            let _ = cache.load(format!("name: [broken {i}").as_bytes());
            assert!(cache.entries.lock().len() <= MAX_ENTRIES);
        }
        assert_eq!(cache.parses(), MAX_ENTRIES + 5);
    }
}
