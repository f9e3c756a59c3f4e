//! Personal data in text: emails, phone numbers (French and international), IBANs that
//! pass the mod-97 check and card numbers that pass Luhn. Checksums keep order numbers
//! and tracking codes from being mistaken for bank details.

use std::sync::LazyLock;

use regex::Regex;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)[a-z0-9][a-z0-9._%+\-]*@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9\-]+)*\.[a-z]{2,}(?-u:\b)").unwrap()
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]{4}){2,7}(?:[ \-]?[a-z0-9]{1,4})?(?-u:\b)",
    )
    .unwrap()
});
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)\d(?:[ \-]?\d){12,18}(?-u:\b)").unwrap());
/// French numbers: 0X XX XX XX XX, +33 X XX XX XX XX, 0033...
static PHONE_FR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+33[ .\-]?(?:\(0\)[ .\-]?)?|(?-u:\b)0033[ .\-]?|(?-u:\b)0)[1-9](?:[ .\-]?\d{2}){4}(?-u:\b)")
        .unwrap()
});
/// International numbers in E.164 style: a `+`, a country code and 7 to 13 more digits.
static PHONE_INTL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+\d{1,3}(?:[ .\-]?\(?\d+\)?){2,6}").unwrap());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonalDataKind {
    Email,
    Iban,
    Card,
    PhoneFr,
    PhoneIntl,
}

impl PersonalDataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonalDataKind::Email => "email",
            PersonalDataKind::Iban => "iban",
            PersonalDataKind::Card => "card_number",
            PersonalDataKind::PhoneFr => "phone_fr",
            PersonalDataKind::PhoneIntl => "phone_intl",
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            PersonalDataKind::Email => "[email]",
            PersonalDataKind::Iban => "[iban]",
            PersonalDataKind::Card => "[card]",
            PersonalDataKind::PhoneFr | PersonalDataKind::PhoneIntl => "[phone]",
        }
    }
}

type Found = Vec<(std::ops::Range<usize>, PersonalDataKind)>;

/// Byte ranges of personal data found in `text`, without overlaps, in text order.
pub fn find(text: &str) -> Found {
    let mut found = Found::new();
    // Cheap guards: an email needs an `@`, every other kind at least 8 digits.
    if text.contains('@') {
        for m in EMAIL.find_iter(text) {
            add(&mut found, m.range(), PersonalDataKind::Email);
        }
    }
    if text.bytes().filter(u8::is_ascii_digit).count() >= 8 {
        for m in IBAN.find_iter(text) {
            if iban_checksum_ok(m.as_str()) {
                add(&mut found, m.range(), PersonalDataKind::Iban);
            }
        }
        for m in CARD.find_iter(text) {
            if luhn_ok(m.as_str()) {
                add(&mut found, m.range(), PersonalDataKind::Card);
            }
        }
        for m in PHONE_FR.find_iter(text) {
            add(&mut found, m.range(), PersonalDataKind::PhoneFr);
        }
        for m in PHONE_INTL.find_iter(text) {
            let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            if (8..=15).contains(&digits) {
                add(&mut found, m.range(), PersonalDataKind::PhoneIntl);
            }
        }
    }
    found.sort_by_key(|(r, _)| r.start);
    found
}

/// Earlier kinds win: a card number is not also reported as a phone number.
fn add(found: &mut Found, range: std::ops::Range<usize>, kind: PersonalDataKind) {
    if !found
        .iter()
        .any(|(r, _)| r.start < range.end && range.start < r.end)
    {
        found.push((range, kind));
    }
}

/// Masks every kind of personal data, for logs and traces.
pub fn redact(text: &str) -> String {
    let found = find(text);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, kind) in found {
        out.push_str(&text[last..range.start]);
        out.push_str(kind.placeholder());
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Luhn check over the digits of a candidate card number.
pub fn luhn_ok(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616 check: move the first four characters to the end, turn letters into
/// numbers (A=10), and the result modulo 97 must be 1.
pub fn iban_checksum_ok(candidate: &str) -> bool {
    let compact: Vec<char> = candidate
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rotated = compact[4..].iter().chain(&compact[..4]);
    let mut remainder: u32 = 0;
    for c in rotated {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_accept_real_numbers_and_reject_near_misses() {
        assert!(luhn_ok("4539 1488 0343 6467"));
        assert!(!luhn_ok("4539 1488 0343 6468"));
        assert!(iban_checksum_ok("FR76 3000 6000 0112 3456 7890 189"));
        assert!(!iban_checksum_ok("FR76 3000 6000 0112 3456 7890 188"));
        assert!(iban_checksum_ok("GB82 WEST 1234 5698 7654 32"));
    }

    #[test]
    fn every_kind_is_found() {
        let kinds = |t: &str| find(t).into_iter().map(|(_, k)| k).collect::<Vec<_>>();
        assert_eq!(
            kinds("write to jane.doe@example.fr"),
            [PersonalDataKind::Email]
        );
        assert_eq!(
            kinds("appelez le 06 12 34 56 78"),
            [PersonalDataKind::PhoneFr]
        );
        assert_eq!(kinds("call +33 6 12 34 56 78"), [PersonalDataKind::PhoneFr]);
        assert_eq!(
            kinds("call +44 20 7946 0958"),
            [PersonalDataKind::PhoneIntl]
        );
        assert_eq!(
            kinds("card 4539-1488-0343-6467 exp 12/27"),
            [PersonalDataKind::Card]
        );
        assert_eq!(
            kinds("IBAN FR7630006000011234567890189"),
            [PersonalDataKind::Iban]
        );
    }

    #[test]
    fn order_numbers_are_not_personal_data() {
        assert!(find("order 1234567890123 is late").is_empty());
        assert!(find("lot FR12 ABCD 1234 5678 recalled").is_empty());
        assert!(find("batch 20240315 expires 2026").is_empty());
    }

    #[test]
    fn redaction_masks_everything() {
        let out = redact(
            "me: jane@ex.com, 06 12 34 56 78, FR76 3000 6000 0112 3456 7890 189, 4539148803436467",
        );
        assert_eq!(out, "me: [email], [phone], [iban], [card]");
    }
}
