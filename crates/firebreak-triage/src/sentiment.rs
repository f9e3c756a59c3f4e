//! Lexicon sentiment in [-1, 1] for French and English, with negation and intensifiers.
//!
//! The lexicons (`lexicons/sentiment_{en,fr}.txt`) are this project's own, a few hundred
//! words each, weighted in [-4, 4]. Scoring follows the familiar valence-sum recipe:
//! a negator in the three preceding words flips and damps a word, an intensifier just
//! before it scales it, and the sum is squashed into [-1, 1].

use std::sync::LazyLock;

use firebreak_core::Language;

use crate::features::FastMap;
use crate::normalize::normalize;

static ENGLISH: LazyLock<FastMap<String, f64>> =
    LazyLock::new(|| parse_lexicon(include_str!("../lexicons/sentiment_en.txt")));
static FRENCH: LazyLock<FastMap<String, f64>> =
    LazyLock::new(|| parse_lexicon(include_str!("../lexicons/sentiment_fr.txt")));

fn parse_lexicon(source: &str) -> FastMap<String, f64> {
    source
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (word, score) = line.rsplit_once(' ')?;
            Some((normalize(word), score.trim().parse().ok()?))
        })
        .collect()
}

fn is_negator(word: &str) -> bool {
    matches!(
        word,
        "not"
            | "no"
            | "never"
            | "dont"
            | "doesnt"
            | "didnt"
            | "isnt"
            | "wasnt"
            | "arent"
            | "cant"
            | "cannot"
            | "wont"
            | "nothing"
            | "hardly"
            | "pas"
            | "jamais"
            | "rien"
            | "aucun"
            | "aucune"
            | "ni"
            | "sans"
            | "guere"
    )
}

fn intensity(word: &str) -> Option<f64> {
    Some(match word {
        "very" | "really" | "so" | "extremely" | "totally" | "absolutely" | "completely"
        | "incredibly" | "super" | "tres" | "vraiment" | "trop" | "tellement" | "extremement"
        | "completement" | "totalement" | "hyper" | "archi" | "grave" => 1.3,
        "slightly" | "somewhat" | "bit" | "little" | "peu" | "plutot" | "assez" => 0.7,
        _ => return None,
    })
}

/// Squashes a valence sum into (-1, 1); 15 is the usual constant for 4-point lexicons.
fn squash(sum: f64) -> f64 {
    sum / (sum * sum + 15.0).sqrt()
}

/// Sentiment of normalised text; `raw` is consulted for exclamation marks only.
pub fn score(raw: &str, normalized: &str, language: Language) -> f64 {
    let (primary, secondary) = match language {
        Language::Fr => (&*FRENCH, &*ENGLISH),
        _ => (&*ENGLISH, &*FRENCH),
    };
    let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
    let mut sum = 0.0;
    for (i, word) in words.iter().enumerate() {
        let Some(&valence) = primary.get(*word).or_else(|| secondary.get(*word)) else {
            continue;
        };
        let mut value = valence;
        if let Some(factor) = i.checked_sub(1).and_then(|p| intensity(words[p])) {
            value *= factor;
        }
        let window = &words[i.saturating_sub(3)..i];
        // French negation often trails the verb ("ce n'est pas bon" → "est pas bon").
        let negated = window.iter().any(|w| is_negator(w))
            || (language == Language::Fr
                && words.get(i + 1).is_some_and(|w| is_negator(w))
                && valence > 0.0);
        if negated {
            value *= -0.74;
        }
        sum += value;
    }
    let exclamations = raw.matches('!').count().min(4) as f64;
    if sum != 0.0 {
        sum += sum.signum() * 0.3 * exclamations;
    }
    squash(sum).clamp(-1.0, 1.0)
}

/// Convenience for callers holding raw text only.
pub fn score_text(text: &str, language: Language) -> f64 {
    score(text, &normalize(text), language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polarity_follows_the_words() {
        assert!(score_text("Thanks, great service, I love it", Language::En) > 0.5);
        assert!(score_text("Worst company ever, total scam", Language::En) < -0.5);
        assert!(score_text("Service impeccable, merci beaucoup", Language::Fr) > 0.5);
        assert!(score_text("C'est une honte, vraiment scandaleux", Language::Fr) < -0.5);
        assert_eq!(
            score_text("the parcel arrived on tuesday", Language::En),
            0.0
        );
    }

    #[test]
    fn negation_flips_and_intensifiers_amplify() {
        assert!(score_text("this is not good", Language::En) < 0.0);
        assert!(score_text("ce n'est pas bon du tout", Language::Fr) < 0.0);
        let plain = score_text("bad", Language::En);
        let intense = score_text("very bad", Language::En);
        assert!(intense < plain, "{intense} vs {plain}");
    }

    #[test]
    fn score_stays_in_range() {
        let text = "terrible awful horrible worst scam fraud liars!!!!! ".repeat(20);
        let s = score_text(&text, Language::En);
        assert!((-1.0..=1.0).contains(&s));
    }
}
