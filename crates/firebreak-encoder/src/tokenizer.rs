//! SentencePiece unigram segmentation: the most probable split of the normalised text
//! into vocabulary pieces (Viterbi over the lattice of every piece occurrence).
//!
//! One Aho-Corasick pass finds every piece that occurs anywhere in the text; the
//! dynamic programme then keeps, for each end position, the best-scoring path. Ties go
//! to the earliest start, as in the reference implementation, and a character that no
//! single-character piece covers becomes `<unk>` with the model's unknown penalty.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::EncoderError;
use crate::normalize::Normalizer;

pub const UNK: u32 = 0;
pub const BOS: u32 = 1;
pub const EOS: u32 = 2;
/// Pieces 0..3 are `<unk>`, `<s>` and `</s>`: control symbols, never matched in text.
const FIRST_TEXT_PIECE: usize = 3;

pub(crate) struct Tokenizer {
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
            .kind(Some(AhoCorasickKind::DFA))
            .build(&pieces[FIRST_TEXT_PIECE..])
            .map_err(|e| EncoderError::Format(format!("vocabulary: {e}")))?;
        let min = scores.iter().copied().fold(f32::INFINITY, f32::min);
        let texts = pieces.iter().map(|p| p.to_string()).collect();
        Ok(Self {
            normalizer,
            pieces: matcher,
            texts,
            scores,
            unk_score: min - 10.0,
        })
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
        } else {
            self.viterbi(&normalized, &mut ids);
        }
        ids.push(EOS);
        ids
    }

    fn viterbi(&self, text: &str, out: &mut Vec<u32>) {
        let len = text.len();
        // Every occurrence of every piece as (start, end, id), in start then end order:
        // shorter pieces first at each start, as the reference walks them.
        let mut lattice: Vec<(u32, u32, u32)> = self
            .pieces
            .find_overlapping_iter(text)
            .map(|m| {
                (
                    m.start() as u32,
                    m.end() as u32,
                    (m.pattern().as_usize() + FIRST_TEXT_PIECE) as u32,
                )
            })
            .collect();
        lattice.sort_unstable();
        let mut best = vec![f32::NEG_INFINITY; len + 1];
        let mut from = vec![(0u32, UNK); len + 1];
        best[0] = 0.0;
        let bytes = text.as_bytes();
        let mut next = 0;
        for start in 0..len {
            let first = next;
            while next < lattice.len() && lattice[next].0 as usize == start {
                next += 1;
            }
            if best[start] == f32::NEG_INFINITY || !text.is_char_boundary(start) {
                continue;
            }
            let base = best[start];
            let char_end = start + char_len(bytes[start]);
            let mut has_single = false;
            for &(_, end, id) in &lattice[first..next] {
                let score = base + self.scores[id as usize];
                if score > best[end as usize] {
                    best[end as usize] = score;
                    from[end as usize] = (start as u32, id);
                }
                has_single |= end as usize == char_end;
            }
            if !has_single {
                let score = base + self.unk_score;
                if score > best[char_end] {
                    best[char_end] = score;
                    from[char_end] = (start as u32, UNK);
                }
            }
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

fn char_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}
