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
    }

    #[test]
    fn hashing_is_stable() {
        // Stored models depend on this exact value.
        assert_eq!(fnv1a(0, b"abc"), fnv1a(0, b"abc"));
        assert_ne!(fnv1a(0, b"abc"), fnv1a(1, b"abc"));
    }
}
