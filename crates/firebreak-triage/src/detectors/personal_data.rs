//! Personal data in text: emails; phone numbers (French, international, UK and North
//! American national formats); IBANs that pass the mod-97 check, or that a word such as
//! "IBAN" or "RIB" introduces; card numbers that pass Luhn, or four groups of four digits
//! that a card word introduces; national identity numbers (the French NIR, a US SSN, a
//! UK National Insurance number); identity documents and dates of birth named as such;
//! postal addresses (a number, a street word, a name; a UK postcode); emails spelled out
//! ("jean [at] free [dot] fr"); UK sort codes and French RIBs; passwords given in clear;
//! licence plates named as such. Checksums and context words keep order numbers and
//! tracking codes from being mistaken for any of these.

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
/// French numbers: 0X XX XX XX XX, +33 X XX XX XX XX, 0033..., grouped any way people
/// write them (`0612 345 678`).
static PHONE_FR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+33[ .\-]?(?:\(0\)[ .\-]?)?|(?-u:\b)0033[ .\-]?|(?-u:\b)0)[1-9](?:[ .\-]?\d){8}(?-u:\b)")
        .unwrap()
});
/// International numbers in E.164 style: a `+`, a country code and 7 to 13 more digits.
static PHONE_INTL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+\d{1,3}(?:[ .\-]?\(?\d+\)?){2,6}").unwrap());
/// UK mobiles (07xxx xxxxxx), London-style numbers (020 xxxx xxxx) and five-digit
/// area codes (01632 960471), Swiss (079 456 78 90) and Belgian (0470 12 34 56) ones,
/// and North American (xxx) xxx-xxxx / xxx-xxx-xxxx: grouped as people write them.
static PHONE_NATIONAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)07\d{3}[ ]?\d{6}(?-u:\b)|(?-u:\b)0[12]\d{1,3}[ ]\d{3,4}[ ]\d{4}(?-u:\b)|(?-u:\b)0[12]\d{3}[ ]?\d{6}(?-u:\b)|(?-u:\b)0\d{2}[ .]\d{3}[ .]\d{2}[ .]\d{2}(?-u:\b)|(?-u:\b)04\d{2}[ ./]\d{2}[ ./]\d{2}[ ./]\d{2}(?-u:\b)|(?:\(\d{3}\)[ ]?|(?-u:\b)\d{3}[ .\-])\d{3}[ .\-]\d{4}(?-u:\b)")
        .unwrap()
});
/// Words that say the digits after them are a card or an account.
static CARD_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:carte|cb|card|visa|mastercard|amex|cvv|cvc|cryptogramme|expir\w*|exp)\b")
        .unwrap()
});
static CARD_GROUPED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{4}(?-u:\b)").unwrap());
static IBAN_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:iban|rib|bic|account number|sort code|num[ée]ro de compte)\b").unwrap()
});
/// National identity numbers: the French NIR (sex, year, month, department, commune,
/// order, key: `1 85 07 75 123 456 78`), a US SSN (`123-45-6789`), a UK National
/// Insurance number (`QQ 12 34 56 C`).
static NATIONAL_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)[12][ .]\d{2}[ .](?:0[1-9]|1[0-2]|[2-9]\d)[ .](?:\d{2}|2a|2b)[ .]\d{3}[ .]\d{3}(?:[ .]\d{2})?(?-u:\b)|(?-u:\b)\d{3}-\d{2}-\d{4}(?-u:\b)|(?-u:\b)[a-ceghj-pr-tw-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[a-d](?-u:\b)")
        .unwrap()
});
/// A NIR written without spaces reads like an order number: only after a word that
/// names it.
static NIR_CONTIGUOUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?-u:\b)[12]\d{12}(?:\d{2})?(?-u:\b)").unwrap());
static NIR_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:s[ée]cu|s[ée]curit[ée] sociale|nir|carte vitale|social security|insee)\b")
        .unwrap()
});
/// An identity document named, then its number within a few words.
static ID_DOCUMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:passeport|passport|carte d.identit[ée]|cni|id card|identity card|permis de conduire|driving licen[cs]e|driver.?s licen[cs]e|licen[cs]e number|titre de s[ée]jour)\b[^.\n]{0,30}?\b([a-z]{0,5}\d[a-z0-9]{4,16})\b")
        .unwrap()
});
/// A date of birth named as such: `née le 12/03/1985`, `DOB 4 March 1990`.
static BIRTH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:n[ée]e? le|date de naissance|born on|born|dob|d\.o\.b\.?|date of birth|birthday)\b[^.\n]{0,12}?\b\d{1,2}(?:er)?[/.\- ](?:\d{1,2}|[a-zéû]{3,9})[/.\- ](?:19|20)\d{2}\b")
        .unwrap()
});
/// A postal address: a house number, a street word, a name (`12 rue des Lilas`,
/// `47 av. Jean Jaurès`, `221B Baker Street`); a French lieu-dit with its postcode.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b\d{1,4}(?: ?(?:bis|ter|[a-d]))?,? (?:rue|avenue|av|boulevard|bd|all[ée]e|impasse|chemin|place|route|quai|cours|square|r[ée]sidence|lotissement|faubourg)\b\.?(?: [\w'’\-]+){1,5}|\blieu[- ]dit\b[^,.\n]{2,40},? \d{5}\b|\b\d{1,5}[a-d]? (?:[a-z][\w'’\-]* ){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|boulevard|blvd|court|ct|terrace|crescent|gardens|grove)\b")
        .unwrap()
});

/// A UK address written without a street word: a house number, capitalised words, a
/// town, then a postcode (`7 Harbour View, Brighton BN2 1TW`). The postcode is matched
/// in capitals only, as written, so that ordinary words do not pass for one.
static ADDRESS_UK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\d{1,4}[a-zA-Z]? [A-Z][\w'’\-]*(?: [A-Z][\w'’\-]*){0,3},? (?:[A-Z][a-z]+,? )?[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")
        .unwrap()
});
/// An email address spelled out to dodge filters: `jean.dupont [at] free [dot] fr`,
/// `jdupont arobase orange point fr`; with a plain " at ", only before a mail provider
/// (`mike at outlook dot com`), since "look at this dot com" is not an address.
static EMAIL_SPELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9][a-z0-9._%+\-]*(?:\s*[\[({]\s*(?:at|@|arobase)\s*[\])}]\s*|\s+arobase\s+)[a-z0-9\-]+(?:(?:\s*[\[({]\s*(?:dot|point)\s*[\])}]\s*|\s+(?:dot|point)\s+|\.)[a-z0-9\-]+)+|\b[a-z0-9][a-z0-9._%+\-]*\s+at\s+(?:gmail|googlemail|hotmail|outlook|live|msn|yahoo|icloud|me|aol|gmx|protonmail|proton|free|orange|wanadoo|sfr|laposte|bbox|neuf|numericable|skynet|bluewin|btinternet|sky|virginmedia)(?:\s+(?:dot|point)\s+|\.)[a-z]{2,4}\b")
        .unwrap()
});
/// What every [`EMAIL_SPELLED`] match holds, without its word boundaries: on text with
/// accents the full pattern cannot run on the lazy DFA (Unicode `\b`) and took a tenth
/// of a classification; this one can, and few texts match it.
static EMAIL_SPELLED_HINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[\[({]\s*(?:at|@|arobase)\s*[\])}]|\sarobase\s|\sat\s+(?:gmail|googlemail|hotmail|outlook|live|msn|yahoo|icloud|me|aol|gmx|protonmail|proton|free|orange|wanadoo|sfr|laposte|bbox|neuf|numericable|skynet|bluewin|btinternet|sky|virginmedia)(?:\s+(?:dot|point)\s|\.)")
        .unwrap()
});
/// Bank details named as such without an IBAN: a UK sort code and account number, a
/// French RIB (banque, guichet, compte).
static BANK_ACCOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bsort code\b[^.\n]{0,12}?\b\d{2}[ \-]\d{2}[ \-]\d{2}\b|\baccount(?: number| no\.?| n°)?:?\s+\d{8}\b|\bbanque\s*:?\s*\d{5}\b[^.\n]{0,12}?\bguichet\s*:?\s*\d{5}\b(?:[^.\n]{0,12}?\bcompte\s*:?\s*[0-9a-z]{11}\b)?|\b\d{5} \d{5} [0-9a-z]{11} \d{2}\b")
        .unwrap()
});
/// A password given in clear: the word, then a token with both letters and digits.
static PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?:password|passwd|pwd|passcode|mot de passe|mdp)\b(?:\s*(?:is|was|:|=|c'?est|est|c)\b|\s*[:=])*\s*["“'«]?\s*(\S{6,40})"#)
        .unwrap()
});
/// A vehicle's registration named as such (`plate WR65 HKD`, `immatriculée FG-482-KL`):
/// with a name or a street nearby it tells where someone lives or parks.
static LICENCE_PLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:plaque|immatricul\w*|plate|reg(?:istration)?|number plate)\b[^.\n]{0,15}?\b([a-z]{2}-\d{3}-[a-z]{2}|[a-z]{2}\d{2} ?[a-z]{3})\b")
        .unwrap()
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonalDataKind {
    Email,
    Iban,
    Card,
    PhoneFr,
    PhoneIntl,
    PhoneNational,
    NationalId,
    IdDocument,
    BirthDate,
    Address,
    BankAccount,
    Password,
    LicencePlate,
}

impl PersonalDataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonalDataKind::Email => "email",
            PersonalDataKind::Iban => "iban",
            PersonalDataKind::Card => "card_number",
            PersonalDataKind::PhoneFr => "phone_fr",
            PersonalDataKind::PhoneIntl => "phone_intl",
            PersonalDataKind::PhoneNational => "phone_national",
            PersonalDataKind::NationalId => "national_id",
            PersonalDataKind::IdDocument => "id_document",
            PersonalDataKind::BirthDate => "birth_date",
            PersonalDataKind::Address => "address",
            PersonalDataKind::BankAccount => "bank_account",
            PersonalDataKind::Password => "password",
            PersonalDataKind::LicencePlate => "licence_plate",
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            PersonalDataKind::Email => "[email]",
            PersonalDataKind::Iban => "[iban]",
            PersonalDataKind::Card => "[card]",
            PersonalDataKind::PhoneFr
            | PersonalDataKind::PhoneIntl
            | PersonalDataKind::PhoneNational => "[phone]",
            PersonalDataKind::NationalId => "[national id]",
            PersonalDataKind::IdDocument => "[id document]",
            PersonalDataKind::BirthDate => "[birth date]",
            PersonalDataKind::Address => "[address]",
            PersonalDataKind::BankAccount => "[bank account]",
            PersonalDataKind::Password => "[password]",
            PersonalDataKind::LicencePlate => "[licence plate]",
        }
    }
}

type Found = Vec<(std::ops::Range<usize>, PersonalDataKind)>;

/// Byte ranges of personal data found in `text`, without overlaps, in text order.
pub fn find(text: &str) -> Found {
    let mut found = Found::new();
    // Cheap guards: an email needs an `@`, every other kind at least 8 digits.
    if text.contains('@') {
        for m in EMAIL.find_iter(text).filter(|m| !role_account(m.as_str())) {
            add(&mut found, m.range(), PersonalDataKind::Email);
        }
    }
    if EMAIL_SPELLED_HINT.is_match(text) {
        for m in EMAIL_SPELLED.find_iter(text) {
            add(&mut found, m.range(), PersonalDataKind::Email);
        }
    }
    for c in PASSWORD.captures_iter(text) {
        if let Some(token) = c.get(1).filter(|t| password_like(t.as_str())) {
            add(&mut found, token.range(), PersonalDataKind::Password);
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
        // Before phones: a NIR (`1 85 07 75 123 456 78`) holds a run that reads like one.
        for m in NATIONAL_ID.find_iter(text) {
            add(&mut found, m.range(), PersonalDataKind::NationalId);
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
        // Bank details a writer introduces as such, checksum or not: "ma CB 4970 …".
        if IBAN_WORDS.is_match(text) {
            for m in IBAN.find_iter(text) {
                add(&mut found, m.range(), PersonalDataKind::Iban);
            }
        }
        if CARD_WORDS.is_match(text) {
            for m in CARD_GROUPED.find_iter(text).chain(CARD.find_iter(text)) {
                add(&mut found, m.range(), PersonalDataKind::Card);
            }
        }

        if NIR_WORDS.is_match(text) {
            for m in NIR_CONTIGUOUS.find_iter(text) {
                add(&mut found, m.range(), PersonalDataKind::NationalId);
            }
        }
        for m in PHONE_NATIONAL.find_iter(text) {
            add(&mut found, m.range(), PersonalDataKind::PhoneNational);
        }
    }
    if text.bytes().any(|b| b.is_ascii_digit()) {
        for m in BIRTH_DATE.find_iter(text) {
            add(&mut found, m.range(), PersonalDataKind::BirthDate);
        }
        for c in ID_DOCUMENT.captures_iter(text) {
            if let Some(number) = c.get(1) {
                add(&mut found, number.range(), PersonalDataKind::IdDocument);
            }
        }
        for m in BANK_ACCOUNT.find_iter(text) {
            add(&mut found, m.range(), PersonalDataKind::BankAccount);
        }
        for m in ADDRESS.find_iter(text).chain(ADDRESS_UK.find_iter(text)) {
            add(&mut found, m.range(), PersonalDataKind::Address);
        }
        for c in LICENCE_PLATE.captures_iter(text) {
            if let Some(plate) = c.get(1) {
                add(&mut found, plate.range(), PersonalDataKind::LicencePlate);
            }
        }
    }
    found.sort_by_key(|(r, _)| r.start);
    found
}

/// A company's role address (`support@…`, `service.client@…`): a public contact, not a
/// person's.
fn role_account(email: &str) -> bool {
    const ROLES: &[&str] = &[
        "support",
        "help",
        "helpdesk",
        "contact",
        "info",
        "infos",
        "service",
        "services",
        "serviceclient",
        "serviceclients",
        "clients",
        "client",
        "customerservice",
        "customercare",
        "customers",
        "care",
        "cs",
        "sav",
        "noreply",
        "donotreply",
        "press",
        "presse",
        "media",
        "medias",
        "hello",
        "bonjour",
        "admin",
        "webmaster",
        "team",
        "sales",
        "billing",
        "facturation",
        "rgpd",
        "gdpr",
        "dpo",
        "privacy",
        "legal",
        "juridique",
        "careers",
        "jobs",
        "recrutement",
        "reclamation",
        "reclamations",
        "complaints",
        "feedback",
        "office",
        "accueil",
    ];
    let local: String = email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    ROLES.contains(&local.as_str())
}

/// A password rather than a word: letters and digits both ("Summer2023!", not
/// "incorrect").
fn password_like(token: &str) -> bool {
    token.chars().any(|c| c.is_alphabetic()) && token.chars().any(|c| c.is_ascii_digit())
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
    fn spelled_out_emails_bank_details_passwords_and_plates_are_found() {
        let kinds = |t: &str| find(t).into_iter().map(|(_, k)| k).collect::<Vec<_>>();
        use PersonalDataKind::*;
        assert_eq!(
            kinds("écrivez à paul.leroy [at] laposte [dot] net"),
            [Email]
        );
        assert_eq!(kinds("c'est lea.b arobase sfr point fr"), [Email]);
        assert_eq!(kinds("dm me or mail sam_k at gmail dot com"), [Email]);
        assert!(kinds("look at this dot com bubble all over again").is_empty());
        assert_eq!(
            kinds("sort code 11-22-33, pay it back there"),
            [BankAccount]
        );
        assert_eq!(kinds("account number 12345678 please"), [BankAccount]);
        assert_eq!(
            kinds("RIB : banque 20041 guichet 01005 compte 0500013M026 clé 06"),
            [BankAccount]
        );
        assert_eq!(kinds("my password is Tulip2019? try it"), [Password]);
        assert_eq!(kinds("mdp: chaton77 connectez vous"), [Password]);
        assert!(kinds("I reset my password twice and it still fails").is_empty());
        assert_eq!(
            kinds("his van, plate KX70 PLM, blocks the lane"),
            [LicencePlate]
        );
        assert_eq!(kinds("la voiture immatriculée GH-517-TR"), [LicencePlate]);
        assert_eq!(kinds("rappelez au 0612 345 678 svp"), [PhoneFr]);
        assert_eq!(kinds("ring 01632 960123 after six"), [PhoneNational]);
        // Ten digits from a 0: a French-style number as far as the pattern can tell.
        assert!(matches!(
            kinds("joignable au 078 123 45 67 en Suisse")[..],
            [PhoneFr | PhoneNational]
        ));
        assert_eq!(kinds("livrée au 8 av. Victor Hugo à Lyon"), [Address]);
        assert_eq!(kinds("he lives at 14 Mill Close, Leeds LS6 2DN"), [Address]);
        assert_eq!(kinds("lieu-dit Les Granges, 71250 Cluny"), [Address]);
        assert_eq!(
            kinds("charged twice on card 4111111111111112 exp 09/27"),
            [Card]
        );
    }

    #[test]
    fn a_company_role_address_is_not_a_person() {
        assert!(find("wrote to support@brand.example, no answer").is_empty());
        assert!(find("service.client@marque.example ne répond pas").is_empty());
        assert!(!find("write to jane.doe@example.fr").is_empty());
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
    fn identity_numbers_documents_birth_dates_and_addresses_are_found() {
        let kinds = |t: &str| find(t).into_iter().map(|(_, k)| k).collect::<Vec<_>>();
        assert_eq!(
            kinds("mon numéro de sécu 1 85 07 75 123 456 78"),
            [PersonalDataKind::NationalId]
        );
        assert_eq!(kinds("SSN 123-45-6789"), [PersonalDataKind::NationalId]);
        assert_eq!(
            kinds("my passport number is 19AB12345"),
            [PersonalDataKind::IdDocument]
        );
        assert_eq!(
            kinds("Jean Martin, né le 12/03/1985"),
            [PersonalDataKind::BirthDate]
        );
        assert_eq!(
            kinds("livrez au 12 rue des Lilas 75011 Paris"),
            [PersonalDataKind::Address]
        );
        assert_eq!(
            kinds("sent to 221B Baker Street"),
            [PersonalDataKind::Address]
        );
        assert_eq!(
            kinds("call me on 07700 900123"),
            [PersonalDataKind::PhoneNational]
        );
        assert_eq!(
            kinds("ma CB 4970 1234 5678 9012, remboursez-la"),
            [PersonalDataKind::Card]
        );
    }

    #[test]
    fn order_numbers_are_not_personal_data() {
        assert!(find("order 1234567890123 is late").is_empty());
        assert!(find("lot FR12 ABCD 1234 5678 recalled").is_empty());
        assert!(find("batch 20240315 expires 2026").is_empty());
        assert!(find("commande 4587123 du 12/03, 59,90 €, lot 24187").is_empty());
        assert!(find("tracking 1Z999AA10123456784 still not moving").is_empty());
        assert!(find("my iPhone 15 arrived on 12/03/2026 at 10:30").is_empty());
    }

    #[test]
    fn redaction_masks_everything() {
        let out = redact(
            "me: jane@ex.com, 06 12 34 56 78, FR76 3000 6000 0112 3456 7890 189, 4539148803436467",
        );
        assert_eq!(out, "me: [email], [phone], [iban], [card]");
    }
}
