//! French / English / other, with a confidence. Social posts are short, so the score
//! mixes three cheap signals: stopwords, distinctive character trigrams and French
//! diacritics in the raw text. Confidence grows with the amount of evidence, so a
//! three-word post never claims certainty.

use firebreak_core::Language;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detected {
    pub language: Language,
    /// In [0, 1]; below 0.5 callers should treat the language as a guess.
    pub confidence: f64,
}

fn french_stopword(word: &str) -> bool {
    matches!(
        word,
        "le" | "la"
            | "les"
            | "un"
            | "une"
            | "des"
            | "du"
            | "de"
            | "et"
            | "est"
            | "je"
            | "tu"
            | "il"
            | "elle"
            | "nous"
            | "vous"
            | "ils"
            | "elles"
            | "pas"
            | "ne"
            | "que"
            | "qui"
            | "quoi"
            | "pour"
            | "avec"
            | "sur"
            | "dans"
            | "mon"
            | "ma"
            | "mes"
            | "ton"
            | "ta"
            | "votre"
            | "vos"
            | "notre"
            | "nos"
            | "ce"
            | "cette"
            | "ces"
            | "mais"
            | "ou"
            | "au"
            | "aux"
            | "par"
            | "plus"
            | "tres"
            | "sont"
            | "suis"
            | "ai"
            | "avez"
            | "avoir"
            | "etre"
            | "fait"
            | "faire"
            | "quand"
            | "comment"
            | "pourquoi"
            | "moi"
            | "toi"
            | "rien"
            | "tout"
            | "bien"
            | "merci"
            | "bonjour"
            | "encore"
            | "deja"
            | "aussi"
            | "si"
            | "on"
            | "sans"
            | "chez"
            | "leur"
            | "y"
            | "en"
            | "se"
            | "sa"
            | "son"
            | "ses"
            | "oui"
            | "non"
            | "lui"
            | "meme"
            | "apres"
            | "jamais"
            | "toujours"
            | "peut"
    )
}

fn english_stopword(word: &str) -> bool {
    matches!(
        word,
        "the"
            | "a"
            | "an"
            | "and"
            | "is"
            | "are"
            | "was"
            | "were"
            | "i"
            | "you"
            | "he"
            | "she"
            | "we"
            | "they"
            | "it"
            | "not"
            | "no"
            | "to"
            | "of"
            | "in"
            | "on"
            | "for"
            | "with"
            | "my"
            | "your"
            | "our"
            | "their"
            | "this"
            | "that"
            | "these"
            | "those"
            | "but"
            | "or"
            | "at"
            | "by"
            | "from"
            | "have"
            | "has"
            | "had"
            | "do"
            | "does"
            | "did"
            | "dont"
            | "cant"
            | "im"
            | "its"
            | "be"
            | "been"
            | "what"
            | "when"
            | "why"
            | "how"
            | "where"
            | "who"
            | "will"
            | "would"
            | "can"
            | "could"
            | "should"
            | "me"
            | "him"
            | "her"
            | "us"
            | "them"
            | "just"
            | "so"
            | "if"
            | "about"
            | "get"
            | "got"
            | "any"
            | "all"
            | "please"
            | "thanks"
            | "hi"
            | "hello"
            | "yes"
            | "still"
            | "again"
            | "never"
            | "there"
            | "here"
            | "than"
            | "then"
            | "out"
            | "up"
            | "am"
            | "want"
            | "need"
    )
}

/// Trigrams far more frequent in one language than the other (inside words).
const FRENCH_TRIGRAMS: &[&str] = &[
    "eau", "oui", "ais", "ait", "ous", "eur", "ien", "tio", "que", "qui", "ell", "eme", "ont",
    "ire", "oir", "ux ", "es ", "ez ", "ee ", "er ",
];
const ENGLISH_TRIGRAMS: &[&str] = &[
    "the", "ing", "ng ", "and", "hat", "th ", "wh", "ght", "ly ", "ow ", "ck ", "ed ", "ver",
    "you", "oul", "thi", "ould", "ey ", "ay ", "y ",
];

pub fn detect(raw: &str, normalized: &str) -> Detected {
    let mut french = 0.0_f64;
    let mut english = 0.0_f64;
    let mut words = 0usize;
    for word in normalized.split(' ').filter(|w| !w.is_empty()) {
        words += 1;
        let (fr, en) = (french_stopword(word), english_stopword(word));
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
    for gram in FRENCH_TRIGRAMS {
        french += 0.3 * normalized.matches(gram).count() as f64;
    }
    for gram in ENGLISH_TRIGRAMS {
        english += 0.3 * normalized.matches(gram).count() as f64;
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
