//! SentencePiece's `nmt_nfkc` normalisation, read from the model's precompiled
//! character map.
//!
//! The map is a darts-clone double-array trie over UTF-8 byte sequences whose leaves
//! point into a table of NUL-terminated replacements. At each position the longest key
//! that matches wins; bytes with no key are copied (one whole UTF-8 character at a time).
//! Then whitespace is handled the way the model was trained: leading, trailing and
//! repeated spaces dropped, a space prepended, and every space written as `▁` (U+2581).

use crate::EncoderError;

/// What a space becomes in a piece.
pub const SPACE: char = '\u{2581}';

pub(crate) struct Normalizer {
    units: Vec<u32>,
    replacements: Vec<u8>,
}

impl Normalizer {
    pub fn from_charsmap(blob: &[u8]) -> Result<Self, EncoderError> {
        let bad = || EncoderError::Format("normalizer charsmap is truncated".into());
        let size = blob.get(..4).ok_or_else(bad)?;
        let trie_len = u32::from_le_bytes(size.try_into().unwrap()) as usize;
        let trie = blob.get(4..4 + trie_len).ok_or_else(bad)?;
        if !trie_len.is_multiple_of(4) || trie_len == 0 {
            return Err(bad());
        }
        let units = trie
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            units,
            replacements: blob[4 + trie_len..].to_vec(),
        })
    }

    /// The normalised form of `text`, spaces already escaped as `▁`.
    pub fn normalize(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(bytes.len() + 4);
        let mut pos = 0;
        // Leading whitespace is dropped (as normalised, so e.g. U+3000 counts).
        while pos < bytes.len() {
            let (piece, used) = self.prefix(bytes, pos);
            if piece != " " {
                break;
            }
            pos += used;
        }
        if pos >= bytes.len() {
            return out;
        }
        out.push(SPACE);
        let mut prev_space = true;
        while pos < bytes.len() {
            let (mut piece, used) = self.prefix(bytes, pos);
            pos += used;
            if prev_space {
                piece = piece.trim_start_matches(' ');
            }
            if piece.is_empty() {
                continue;
            }
            for c in piece.chars() {
                out.push(if c == ' ' { SPACE } else { c });
            }
            prev_space = piece.ends_with(' ');
        }
        while out.ends_with(SPACE) {
            out.pop();
        }
        out
    }

    /// The replacement of the longest key at `bytes[pos..]`, and how many bytes it used;
    /// or the character at `pos` itself when no key matches.
    fn prefix<'a>(&'a self, bytes: &'a [u8], pos: usize) -> (&'a str, usize) {
        let (mut best_len, mut best_value) = (0, 0usize);
        let units = &self.units;
        let offset = |unit: u32| ((unit >> 10) << ((unit & 0x200) >> 6)) as usize;
        let mut node = offset(units[0]);
        for (i, &c) in bytes[pos..].iter().enumerate() {
            node ^= c as usize;
            let Some(&unit) = units.get(node) else { break };
            if unit & 0x8000_00FF != c as u32 {
                break;
            }
            node ^= offset(unit);
            if unit & 0x100 != 0 {
                let Some(&leaf) = units.get(node) else { break };
                best_len = i + 1;
                best_value = (leaf & 0x7FFF_FFFF) as usize;
            }
        }
        if best_len > 0 && best_value < self.replacements.len() {
            let tail = &self.replacements[best_value..];
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            if let Ok(replacement) = std::str::from_utf8(&tail[..end]) {
                return (replacement, best_len);
            }
        }
        // No key: the character itself. `bytes` comes from a `&str`, so `pos` is on a
        // character boundary and the character is valid UTF-8.
        let len = utf8_len(bytes[pos]);
        let text = std::str::from_utf8(&bytes[pos..pos + len]).unwrap_or("\u{FFFD}");
        (text, len)
    }
}

/// Length in bytes of the UTF-8 character that starts with `first`.
pub(crate) fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}
