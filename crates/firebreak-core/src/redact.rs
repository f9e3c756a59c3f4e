//! Redaction of personal data before anything reaches a log, a trace or an error.

use std::sync::LazyLock;

use regex::Regex;

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}").unwrap());
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}(?:[ ]?[a-z0-9]{1,4})?\b").unwrap()
});
/// Card numbers and phone numbers: long runs of digits with optional separators.
static DIGITS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+?\d(?:[ .\-]?\d){7,18}").unwrap());

/// Replaces emails, IBANs, phone and card numbers with placeholders.
pub fn redact(text: &str) -> String {
    let text = EMAIL.replace_all(text, "[email]");
    let text = IBAN.replace_all(&text, "[iban]");
    DIGITS.replace_all(&text, "[number]").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_replaced() {
        let out = redact(
            "mail jane.doe@example.com or call +33 6 12 34 56 78, IBAN FR76 3000 6000 0112 3456 7890 189",
        );
        assert!(!out.contains("jane.doe"));
        assert!(!out.contains("12 34 56"));
        assert!(!out.contains("3000 6000"));
        assert!(out.contains("[email]") && out.contains("[number]") && out.contains("[iban]"));
    }

    #[test]
    fn ordinary_text_is_untouched() {
        assert_eq!(redact("where is my order 42?"), "where is my order 42?");
    }
}
