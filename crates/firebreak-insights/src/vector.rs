//! The vector a message is clustered by: the encoder's vector, which groups paraphrases
//! across languages, beside a hashed bag of its content words, which keeps apart
//! complaints that the encoder's fast path sees as one ("still on the shelves" and "the
//! hotline is busy" are both angry recall messages). The words are hashed into
//! buckets on the spot; the text itself is neither kept nor sent.

use crate::themes::unit;

/// Buckets of the hashed bag of words.
pub const WORD_BUCKETS: usize = 256;

/// Weight of the meaning against the words (both halves are unit vectors first).
const MEANING_WEIGHT: f32 = 0.75;

/// Words too common to say what a complaint is about.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "are", "was", "this", "that", "with", "have", "has", "not",
    "but", "all", "our", "they", "them", "its", "it's", "from", "just", "any", "can", "les", "des",
    "une", "est", "pas", "vous", "votre", "vos", "que", "qui", "pour", "dans", "sur", "avec",
    "mais", "nous", "ils", "elle", "mon", "mes", "ses", "son", "plus", "tout", "encore", "still",
    "again", "this", "what", "quoi", "chez", "aux", "par",
];

fn fnv(word: &str) -> u64 {
    word.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The clustering vector of a message from its encoder vector and its text.
pub fn theme_vector(embedding: &[f32], text: &str) -> Vec<f32> {
    let mut words = vec![0f32; WORD_BUCKETS];
    let lower = text.to_lowercase();
    for word in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(w))
    {
        // A crude stem: plurals and the French feminine join their singular.
        let stem = word.trim_end_matches('s');
        words[(fnv(stem) % WORD_BUCKETS as u64) as usize] += 1.0;
    }
    let meaning = unit(embedding);
    let words = unit(&words);
    let word_weight = (1.0 - MEANING_WEIGHT * MEANING_WEIGHT).sqrt();
    meaning
        .iter()
        .map(|x| x * MEANING_WEIGHT)
        .chain(words.iter().map(|x| x * word_weight))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_encoder::dot;

    #[test]
    fn shared_content_words_bring_messages_closer() {
        let e = vec![1.0f32, 0.0, 0.0];
        let a = theme_vector(&e, "biscuits still on the shelves at Lidl");
        let b = theme_vector(&e, "the biscuits are on the shelves at Tesco");
        let c = theme_vector(&e, "your hotline is always busy");
        assert!(dot(&a, &b) > dot(&a, &c));
        assert!((dot(&a, &a) - 1.0).abs() < 1e-4, "unit length");
    }
}
