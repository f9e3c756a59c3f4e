//! French / English / other, with a confidence. Social posts are short, so the score
//! mixes three cheap signals: stopwords, distinctive character trigrams and French
//! diacritics in the raw text. Confidence grows with the amount of evidence, so a
//! three-word post never claims certainty.

use std::sync::LazyLock;

use firebreak_core::Language;

use crate::features::FastMap;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detected {
    pub language: Language,
    /// In [0, 1]; below 0.5 callers should treat the language as a guess.
    pub confidence: f64,
}

const FRENCH_STOPWORDS: &[&str] = &[
    "le", "la", "les", "un", "une", "des", "du", "de", "et", "est", "je", "tu", "il", "elle",
    "nous", "vous", "ils", "elles", "pas", "ne", "que", "qui", "quoi", "pour", "avec", "sur",
    "dans", "mon", "ma", "mes", "ton", "ta", "votre", "vos", "notre", "nos", "ce", "cette", "ces",
    "mais", "ou", "au", "aux", "par", "plus", "tres", "sont", "suis", "ai", "avez", "avoir",
    "etre", "fait", "faire", "quand", "comment", "pourquoi", "moi", "toi", "rien", "tout", "bien",
    "merci", "bonjour", "encore", "deja", "aussi", "si", "on", "sans", "chez", "leur", "y", "en",
    "se", "sa", "son", "ses", "oui", "non", "lui", "meme", "apres", "jamais", "toujours", "peut",
];

const ENGLISH_STOPWORDS: &[&str] = &[
    "the", "a", "an", "and", "is", "are", "was", "were", "i", "you", "he", "she", "we", "they",
    "it", "not", "no", "to", "of", "in", "on", "for", "with", "my", "your", "our", "their", "this",
    "that", "these", "those", "but", "or", "at", "by", "from", "have", "has", "had", "do", "does",
    "did", "dont", "cant", "im", "its", "be", "been", "what", "when", "why", "how", "where", "who",
    "will", "would", "can", "could", "should", "me", "him", "her", "us", "them", "just", "so",
    "if", "about", "get", "got", "any", "all", "please", "thanks", "hi", "hello", "yes", "still",
    "again", "never", "there", "here", "than", "then", "out", "up", "am", "want", "need",
];

/// Word → (is French stopword, is English stopword), built once.
static STOPWORDS: LazyLock<FastMap<&'static str, (bool, bool)>> = LazyLock::new(|| {
    let mut map = FastMap::default();
    for word in FRENCH_STOPWORDS {
        map.entry(*word).or_insert((false, false)).0 = true;
    }
    for word in ENGLISH_STOPWORDS {
        map.entry(*word).or_insert((false, false)).1 = true;
    }
    map
});

/// Scores one character trigram: positive for French, negative for English. These are
/// trigrams far more frequent in one language than in the other.
fn trigram_lean(gram: &[u8]) -> f64 {
    match gram {
        b"eau" | b"oui" | b"ais" | b"ait" | b"ous" | b"eur" | b"ien" | b"tio" | b"que" | b"qui"
        | b"ell" | b"eme" | b"ont" | b"ire" | b"oir" | b"ux " | b"es " | b"ez " | b"ee "
        | b"er " => 0.3,
        b"the" | b"ing" | b"ng " | b"and" | b"hat" | b"th " | b" wh" | b"ght" | b"ly " | b"ow "
        | b"ck " | b"ed " | b"ver" | b"you" | b"oul" | b"thi" | b"ey " | b"ay " => -0.3,
        _ => 0.0,
    }
}

/// Whether a normalised word is a French or English stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains_key(word)
}

pub fn detect(raw: &str, normalized: &str) -> Detected {
    let mut french = 0.0_f64;
    let mut english = 0.0_f64;
    let mut words = 0usize;
    for word in normalized.split(' ').filter(|w| !w.is_empty()) {
        words += 1;
        let (fr, en) = STOPWORDS.get(word).copied().unwrap_or_default();
        // Words in both lists ("on", "a") say little either way.
        if fr && !en {
            french += 1.5;
        } else if en && !fr {
            english += 1.5;
        }
    }
    if words == 0 {
        return Detected {
            language: Language::Other,
            confidence: 0.0,
        };
    }
    // One pass over the byte trigrams, with a trailing space so word ends count.
    let bytes = normalized.as_bytes();
    for i in 0..bytes.len() {
        let lean = match bytes.get(i..i + 3) {
            Some(gram) => trigram_lean(gram),
            None if i + 2 == bytes.len() => trigram_lean(&[bytes[i], bytes[i + 1], b' ']),
            None => 0.0,
        };
        if lean > 0.0 {
            french += lean;
        } else {
            english -= lean;
        }
    }
    let diacritics = raw
        .chars()
        .filter(|c| {
            matches!(
                c,
                'é' | 'è' | 'ê' | 'à' | 'ç' | 'ù' | 'ô' | 'î' | 'â' | 'ë' | 'ï' | 'É'
            )
        })
        .count();
    french += diacritics as f64;
    let evidence = french + english;
    if evidence < 1.0 {
        // Words, but none we recognise: another language, or too little to tell.
        let confidence = (words as f64 / 10.0).min(0.6);
        return Detected {
            language: Language::Other,
            confidence,
        };
    }
    let (language, winner) = if french >= english {
        (Language::Fr, french)
    } else {
        (Language::En, english)
    };
    let margin = winner / evidence;
    // Saturates around a dozen words: short posts stay uncertain.
    let amount = 1.0 - (-evidence / 4.0).exp();
    Detected {
        language,
        confidence: (margin * amount).clamp(0.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    fn run(text: &str) -> Detected {
        detect(text, &normalize(text))
    }

    #[test]
    fn sentences_are_recognised_confidently() {
        let fr =
            run("Bonjour, je voudrais savoir quand est-ce que je serai remboursé pour ma commande");
        assert_eq!(fr.language, Language::Fr);
        assert!(fr.confidence > 0.8, "{fr:?}");
        let en = run("Hello, I would like to know when I will get my money back for the order");
        assert_eq!(en.language, Language::En);
        assert!(en.confidence > 0.8, "{en:?}");
    }

    #[test]
    fn short_texts_have_low_confidence() {
        let short = run("merci");
        assert_eq!(short.language, Language::Fr);
        assert!(short.confidence < 0.5, "{short:?}");
    }

    #[test]
    fn unknown_languages_are_other() {
        assert_eq!(
            run("Dónde está mi pedido, por favor").language,
            Language::Other
        );
        assert_eq!(run("🔥🔥").language, Language::Other);
    }
}
