//! SentencePiece unigram segmentation: the most probable split of the normalised text
//! into vocabulary pieces (Viterbi over the lattice of every piece occurrence).
//!
//! One Aho-Corasick pass finds every piece that occurs anywhere in the text (a
//! contiguous NFA: the DFA of 40,000 pieces took 81 MB in every classifying process,
//! the NFA takes 3.8 MB and about 3.6 µs more per 280 characters); the
//! dynamic programme then keeps, for each end position, the best-scoring path. Ties go
//! to the earliest start, as in the reference implementation, and a character that no
//! single-character piece covers becomes `<unk>` with the model's unknown penalty.
//!
//! No piece holds a `▁` anywhere but at its start, so the best path always cuts before
//! each `▁`: a text's segmentation is its words' segmentations end to end. Words repeat
//! (a surge repeats them most), so each thread keeps the segmentations of the words it
//! has seen ([`WORDS_CACHED`] at most, then starts over), and only new words pay for
//! the automaton and the dynamic programme. A vocabulary with an inner `▁` (none in
//! this model; checked at load) is segmented whole.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::EncoderError;
use crate::normalize::{Normalizer, SPACE, utf8_len as char_len};

pub const UNK: u32 = 0;
pub const BOS: u32 = 1;
pub const EOS: u32 = 2;
/// Pieces 0..3 are `<unk>`, `<s>` and `</s>`: control symbols, never matched in text.
const FIRST_TEXT_PIECE: usize = 3;

/// Words whose segmentation a thread keeps per tokeniser: about 130 bytes each, so
/// at most ≈ 2.6 MB per thread that classifies (the runtime's workers, one per core).
pub const WORDS_CACHED: usize = 20_000;

/// Tells tokenisers apart in the threads' caches.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Word (with its leading `▁`) → its pieces.
type WordCache = HashMap<String, Box<[u32]>>;

thread_local! {
    /// Each tokeniser's word cache, by tokeniser id.
    static WORDS: RefCell<HashMap<u64, WordCache>> = RefCell::new(HashMap::new());
}

pub(crate) struct Tokenizer {
    id: u64,
    /// Whether segmentations may be taken word by word (no piece has an inner `▁`).
    by_word: bool,
    normalizer: Normalizer,
    pieces: AhoCorasick,
    texts: Vec<String>,
    scores: Vec<f32>,
    unk_score: f32,
}

impl Tokenizer {
    pub fn new(
        normalizer: Normalizer,
        pieces: &[&str],
        scores: Vec<f32>,
    ) -> Result<Self, EncoderError> {
        if pieces.len() != scores.len() || pieces.len() <= FIRST_TEXT_PIECE {
            return Err(EncoderError::Format(
                "vocabulary and scores disagree".into(),
            ));
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&pieces[FIRST_TEXT_PIECE..])
            .map_err(|e| EncoderError::Format(format!("vocabulary: {e}")))?;
        let min = scores.iter().copied().fold(f32::INFINITY, f32::min);
        let texts = pieces.iter().map(|p| p.to_string()).collect();
        let by_word = pieces
            .iter()
            .all(|p| !p.chars().skip(1).any(|c| c == SPACE));
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            by_word,
            normalizer,
            pieces: matcher,
            texts,
            scores,
            unk_score: min - 10.0,
        })
    }

    /// Heap bytes of the piece automaton (for memory reports).
    pub fn automaton_bytes(&self) -> usize {
        self.pieces.memory_usage()
    }

    pub fn vocab_size(&self) -> usize {
        self.scores.len()
    }

    /// The text of piece `id`.
    pub fn piece(&self, id: u32) -> &str {
        self.texts.get(id as usize).map_or("<unk>", String::as_str)
    }

    /// Piece ids of `text`, framed by `<s>` and `</s>`. An empty text is `<unk>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalizer.normalize(text);
        let mut ids = Vec::with_capacity(normalized.len() / 3 + 3);
        ids.push(BOS);
        if normalized.is_empty() {
            ids.push(UNK);
        } else if self.by_word {
            self.by_words(&normalized, &mut ids);
        } else {
            self.viterbi(&normalized, &mut ids);
        }
        ids.push(EOS);
        ids
    }

    /// The segmentation of `text`, word by word, from this thread's cache where it can.
    fn by_words(&self, text: &str, out: &mut Vec<u32>) {
        WORDS.with(|words| {
            let mut words = words.borrow_mut();
            let cache = words.entry(self.id).or_default();
            for word in words_of(text) {
                if let Some(ids) = cache.get(word) {
                    out.extend_from_slice(ids);
                    continue;
                }
                let start = out.len();
                self.viterbi(word, out);
                if cache.len() >= WORDS_CACHED {
                    cache.clear();
                }
                cache.insert(word.to_string(), out[start..].into());
            }
        });
    }

    fn viterbi(&self, text: &str, out: &mut Vec<u32>) {
        let len = text.len();
        let bytes = text.as_bytes();
        let mut best = vec![f32::NEG_INFINITY; len + 1];
        let mut from = vec![(0u32, UNK); len + 1];
        best[0] = 0.0;
        // Overlapping matches arrive in order of their end, so every path into a match's
        // start is final when the match is seen. A character that no single-character
        // piece covers is bridged by `<unk>` once the scan is past it.
        let mut covered = vec![false; len];
        let mut bridged = 0;
        let relax = |best: &mut [f32],
                     from: &mut [(u32, u32)],
                     start: usize,
                     end: usize,
                     id: u32,
                     score: f32| {
            let total = best[start] + score;
            // Ties go to the earliest start, as the reference's left-to-right walk does.
            if total > best[end] || (total == best[end] && (start as u32) < from[end].0) {
                best[end] = total;
                from[end] = (start as u32, id);
            }
        };
        for m in self.pieces.find_overlapping_iter(text) {
            let (start, end) = (m.start(), m.end());
            while bridged < start {
                if text.is_char_boundary(bridged) && !covered[bridged] {
                    let char_end = bridged + char_len(bytes[bridged]);
                    if char_end <= start {
                        relax(&mut best, &mut from, bridged, char_end, UNK, self.unk_score);
                    } else {
                        break;
                    }
                }
                bridged += 1;
            }
            let id = (m.pattern().as_usize() + FIRST_TEXT_PIECE) as u32;
            if end == start + char_len(bytes[start]) {
                covered[start] = true;
            }
            if best[start] > f32::NEG_INFINITY {
                relax(
                    &mut best,
                    &mut from,
                    start,
                    end,
                    id,
                    self.scores[id as usize],
                );
            }
        }
        while bridged < len {
            if text.is_char_boundary(bridged) && !covered[bridged] {
                let char_end = bridged + char_len(bytes[bridged]);
                relax(&mut best, &mut from, bridged, char_end, UNK, self.unk_score);
            }
            bridged += 1;
        }
        let first = out.len();
        let mut pos = len;
        while pos > 0 {
            let (start, id) = from[pos];
            out.push(id);
            pos = start as usize;
        }
        out[first..].reverse();
    }
}

/// `text` cut before each `▁` (the first word starts with one).
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let skip = rest.chars().next().map_or(0, char::len_utf8);
        let end = rest[skip..].find(SPACE).map_or(rest.len(), |i| i + skip);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cut_before_each_space_marker() {
        let words: Vec<&str> = words_of("▁où▁est▁mon▁colis").collect();
        assert_eq!(words, ["▁où", "▁est", "▁mon", "▁colis"]);
        assert_eq!(words_of("ab").collect::<Vec<_>>(), ["ab"]);
        assert_eq!(words_of("").count(), 0);
    }

    #[test]
    fn word_by_word_segmentation_is_the_whole_text_segmentation() {
        let tokenizer = &crate::Encoder::shared().tokenizer;
        assert!(tokenizer.by_word, "the model has no piece with an inner ▁");
        for text in [
            "Bonjour, ça fait maintenant trois semaines que j'attends ma commande !!!",
            "I took all my pills an hour ago 💊💊 #BoycottDupre @MaisonDupre",
            "naïve café déjà-vu — «guillemets» … l'œuvre ﬁ ﬂ Ｆｕｌｌ",
            "https://example.com/track?id=12345 order #A-99812 wtf 😡😡",
            "¿Dónde está mi pedido? Wo ist mein Paket? 日本語のテキスト",
            "a",
            "   spaces   everywhere   ",
        ] {
            let normalized = tokenizer.normalizer.normalize(text);
            let mut whole = Vec::new();
            tokenizer.viterbi(&normalized, &mut whole);
            for _ in 0..2 {
                // Once from the automaton, once from the cache.
                let mut by_words = Vec::new();
                tokenizer.by_words(&normalized, &mut by_words);
                assert_eq!(by_words, whole, "{text}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_segments_the_same_word_by_word(text in "([a-zàéèêçœ' ]|[A-Z]|[0-9]|[!?.,#@]|😡|日|ß| {2,3}){0,60}") {
            let tokenizer = &crate::Encoder::shared().tokenizer;
            let normalized = tokenizer.normalizer.normalize(&text);
            let mut whole = Vec::new();
            tokenizer.viterbi(&normalized, &mut whole);
            let mut by_words = Vec::new();
            tokenizer.by_words(&normalized, &mut by_words);
            proptest::prop_assert_eq!(by_words, whole);
        }
    }
}
