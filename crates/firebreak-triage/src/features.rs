//! Hashed text features shared by the key-question matcher and the hostility model.
//! Hashing avoids a vocabulary: any word, in any language, maps to a bucket.

/// FNV-1a: tiny, fast on short keys, and stable across platforms and releases, which
/// matters because a trained model stores weights by these hashes.
pub fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Final avalanche so that low bits (used as bucket indices) depend on every byte.
    hash ^= hash >> 29;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^ (hash >> 32)
}

/// `std::hash::Hasher` over [`fnv1a`], for small maps of short string keys on the hot
/// path, where SipHash's flooding resistance buys nothing (keys are our own lexicons).
#[derive(Clone, Copy, Debug, Default)]
pub struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FnvHasher>>;

const WORD_SEED: u64 = 1;
const BIGRAM_SEED: u64 = 2;
const CHAR_SEED: u64 = 3;

/// Calls `emit` with the hash of every word, word bigram and in-word character n-gram
/// (`min_n..=max_n`, words padded with spaces) of normalised text.
pub fn for_each_feature(normalized: &str, min_n: usize, max_n: usize, mut emit: impl FnMut(u64)) {
    let mut previous: Option<&str> = None;
    for word in normalized.split(' ').filter(|w| !w.is_empty()) {
        emit(fnv1a(WORD_SEED, word.as_bytes()));
        if let Some(previous) = previous {
            let mut hash = fnv1a(BIGRAM_SEED, previous.as_bytes());
            hash = fnv1a(hash, word.as_bytes());
            emit(hash);
        }
        previous = Some(word);
        char_ngrams(word, min_n, max_n, &mut emit);
    }
}

fn char_ngrams(word: &str, min_n: usize, max_n: usize, emit: &mut impl FnMut(u64)) {
    // Pad with a space on each side so prefixes and suffixes are features of their own.
    let mut padded = [0u8; 64];
    let bytes = word.as_bytes();
    if bytes.len() + 2 > padded.len() {
        return; // Absurdly long "words" (hashes, base64) carry no signal.
    }
    padded[0] = b' ';
    padded[1..=bytes.len()].copy_from_slice(bytes);
    padded[bytes.len() + 1] = b' ';
    let padded = &padded[..bytes.len() + 2];
    for n in min_n..=max_n {
        if padded.len() < n {
            break;
        }
        for gram in padded.windows(n) {
            emit(fnv1a(CHAR_SEED + n as u64, gram));
        }
    }
}

/// A sparse, L2-normalised term-frequency vector over hashed features, sorted by key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVector {
    entries: Vec<(u32, f32)>,
}

impl SparseVector {
    pub fn from_text(normalized: &str) -> SparseVector {
        let mut keys = Vec::with_capacity(normalized.len() * 2);
        for_each_feature(normalized, 3, 3, |h| keys.push(h as u32));
        keys.sort_unstable();
        let mut entries: Vec<(u32, f32)> = Vec::with_capacity(keys.len());
        for key in keys {
            match entries.last_mut() {
                Some((last, count)) if *last == key => *count += 1.0,
                _ => entries.push((key, 1.0)),
            }
        }
        let norm = entries.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            entries.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        SparseVector { entries }
    }

    /// Cosine similarity, since both sides are normalised.
    #[cfg(test)]
    pub fn cosine(&self, other: &SparseVector) -> f64 {
        let (mut i, mut j, mut dot) = (0, 0, 0.0_f32);
        let (a, b) = (&self.entries, &other.entries);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    dot += a[i].1 * b[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        f64::from(dot)
    }
}

/// The message side of a similarity: term counts in an open-addressing table, so each
/// example's few entries are looked up directly instead of merged against a sorted list.
#[derive(Debug)]
pub struct QueryVector {
    keys: Vec<u32>,
    counts: Vec<f32>,
    mask: usize,
    norm: f32,
}

impl QueryVector {
    pub fn from_text(normalized: &str) -> QueryVector {
        // Distinct features stay under twice the text length, so the load stays below ~0.5.
        let slots = (normalized.len() * 2 + 16).next_power_of_two();
        let mut query = QueryVector {
            keys: vec![0; slots],
            counts: vec![0.0; slots],
            mask: slots - 1,
            norm: 0.0,
        };
        let mut squares = 0.0_f32;
        for_each_feature(normalized, 3, 3, |hash| {
            let slot = query.slot(hash as u32);
            query.keys[slot] = key_of(hash as u32);
            // (c + 1)^2 - c^2: keeps the squared norm without a second pass.
            squares += 2.0 * query.counts[slot] + 1.0;
            query.counts[slot] += 1.0;
        });
        query.norm = squares.sqrt();
        query
    }

    /// The slot holding `key`, or the empty one where it would go. Never full: the
    /// table has more slots than the text has bytes times the features per byte.
    fn slot(&self, key: u32) -> usize {
        let key = key_of(key);
        let mut slot = (key as usize).wrapping_mul(0x9e37_79b9) & self.mask;
        while self.keys[slot] != 0 && self.keys[slot] != key {
            slot = (slot + 1) & self.mask;
        }
        slot
    }

    /// Cosine similarity with a normalised example vector (the reference for
    /// [`SparseIndex::cosines`]).
    #[cfg(test)]
    pub fn cosine(&self, example: &SparseVector) -> f64 {
        if self.norm == 0.0 {
            return 0.0;
        }
        let dot: f32 = example
            .entries
            .iter()
            .map(|&(key, weight)| {
                let slot = self.slot(key);
                if self.keys[slot] == 0 {
                    0.0
                } else {
                    self.counts[slot] * weight
                }
            })
            .sum();
        f64::from(dot / self.norm)
    }
}

/// 0 marks an empty slot, so the one key hashing to 0 is stored as 1.
fn key_of(key: u32) -> u32 {
    key.max(1)
}

/// Many example vectors, inverted: for each feature, the examples that hold it and
/// their weights. A message's cosines with all of them then cost one lookup per
/// feature of the message, not one per feature of every example (the default
/// playbook's 351 examples: about 17,000 lookups a message before).
#[derive(Debug, Default)]
pub struct SparseIndex {
    /// Feature key (as the query stores it) → its range in `postings`.
    ranges: std::collections::HashMap<u32, (u32, u32), IdentityState>,
    /// (example, weight), grouped by feature.
    postings: Vec<(u32, f32)>,
    examples: usize,
}

impl SparseIndex {
    pub fn new<'a>(vectors: impl IntoIterator<Item = &'a SparseVector>) -> SparseIndex {
        let mut by_key: std::collections::BTreeMap<u32, Vec<(u32, f32)>> = Default::default();
        let mut examples = 0;
        for (i, vector) in vectors.into_iter().enumerate() {
            examples = i + 1;
            for &(key, weight) in &vector.entries {
                by_key
                    .entry(key_of(key))
                    .or_default()
                    .push((i as u32, weight));
            }
        }
        let mut index = SparseIndex {
            examples,
            ..SparseIndex::default()
        };
        for (key, list) in by_key {
            let start = index.postings.len() as u32;
            index.postings.extend(list);
            index
                .ranges
                .insert(key, (start, index.postings.len() as u32));
        }
        index
    }

    /// `query`'s cosine with every indexed vector, in order (0 for an empty one).
    pub fn cosines(&self, query: &QueryVector, out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.examples, 0.0);
        if query.norm == 0.0 {
            return;
        }
        for (key, count) in query.keys.iter().zip(&query.counts) {
            if *key == 0 {
                continue;
            }
            if let Some(&(start, end)) = self.ranges.get(key) {
                for &(example, weight) in &self.postings[start as usize..end as usize] {
                    out[example as usize] += count * weight;
                }
            }
        }
        out.iter_mut().for_each(|c| *c /= query.norm);
    }
}

/// Keys are hashes already: hashing them again only costs time.
#[derive(Clone, Copy, Debug, Default)]
struct IdentityState;

impl std::hash::BuildHasher for IdentityState {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

#[derive(Debug)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        // Spread the bits the table indexes by (its low ones).
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let a = SparseVector::from_text("when will i get my refund");
        let b = SparseVector::from_text("when do i get refunded");
        let c = SparseVector::from_text("the weather is lovely today");
        assert!(a.cosine(&b) > a.cosine(&c));
        assert!((a.cosine(&a) - 1.0).abs() < 1e-5);
        let query = QueryVector::from_text("when will i get my refund");
        assert!((query.cosine(&b) - a.cosine(&b)).abs() < 1e-5);
        assert!((query.cosine(&a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn hashing_is_stable() {
        // The committed model stores weights by these hashes: changing the function
        // silently scrambles it, so pin one value (computed independently).
        assert_eq!(fnv1a(0, b"abc"), 0xd698_905d_db2b_4cf6);
        assert_ne!(fnv1a(0, b"abc"), fnv1a(1, b"abc"));
    }

    #[test]
    fn the_index_gives_each_example_the_cosine_a_direct_lookup_gives() {
        let examples: Vec<SparseVector> = [
            "when will i get my refund",
            "",
            "ou est mon colis",
            "the weather is lovely today",
        ]
        .iter()
        .map(|t| SparseVector::from_text(t))
        .collect();
        let index = SparseIndex::new(&examples);
        for text in ["when do i get refunded", "il est ou mon colis", "", "zzz"] {
            let query = QueryVector::from_text(text);
            let mut got = Vec::new();
            index.cosines(&query, &mut got);
            assert_eq!(got.len(), examples.len());
            for (example, cosine) in examples.iter().zip(&got) {
                let expected = query.cosine(example) as f32;
                assert!(
                    (expected - cosine).abs() < 1e-5,
                    "{text}: {expected} vs {cosine}"
                );
            }
        }
    }
}
