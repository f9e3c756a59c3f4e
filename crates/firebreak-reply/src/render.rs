//! Template variables for a reply. Everything that came from the user (handle, display
//! name) goes through `firebreak_triage::redact` and a character filter, and nothing of
//! the message text is ever a variable: a reply cannot echo personal data back.

use firebreak_core::{Message, MessageId};
use firebreak_triage::ReplyVars;

/// Longest handle or first name put in a reply.
const MAX_NAME_CHARS: usize = 30;

/// Keeps what a name or handle is made of; drops the rest (markup, URLs, template
/// syntax and the placeholders `redact` left behind).
fn clean(raw: &str) -> String {
    let redacted = firebreak_triage::redact(raw);
    let mut kept = String::new();
    for word in redacted.split_whitespace() {
        // A redaction placeholder (`[email]`, `[phone]`...) stands for personal data.
        if word.starts_with('[') {
            continue;
        }
        let word: String = word
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\''))
            .collect();
        if word.is_empty() {
            continue;
        }
        if !kept.is_empty() {
            kept.push(' ');
        }
        kept.push_str(&word);
    }
    kept.chars().take(MAX_NAME_CHARS).collect()
}

/// Smooths what an empty variable leaves behind ("Hi , thanks" becomes "Hi, thanks").
pub fn tidy(text: &str) -> String {
    let mut out = text.replace(" ,", ",").replace(" .", ".");
    while out.contains("  ") {
        out = out.replace("  ", " ");
    }
    out.trim().to_string()
}

/// A short reference a person can quote back: derived from the message id, so it is
/// the same on every replica and every retry.
pub fn case_ref(id: MessageId) -> String {
    let hex = id.0.simple().to_string();
    format!("FB-{}", hex[..8].to_ascii_uppercase())
}

/// The variables for the automatic reply to `message`.
pub fn vars(message: &Message, case_reference: String) -> ReplyVars {
    let handle = clean(message.author.handle.trim_start_matches('@'));
    let first_name = clean(&message.author.name)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let handle = if handle.is_empty() {
        first_name.clone()
    } else {
        format!("@{handle}")
    };
    let first_name = if first_name.is_empty() {
        handle.trim_start_matches('@').to_string()
    } else {
        first_name
    };
    ReplyVars {
        handle,
        first_name,
        case_ref: case_reference,
        // Empty: the key question's own link from the playbook.
        link: String::new(),
        brand: String::new(),
    }
}

/// Every variant of the reply `classification` would get, rendered for `message`'s
/// author as the reply service would send it: the preview `classify` shows before a
/// playbook goes live. Empty when the decision is not an automatic reply.
pub fn preview(
    playbook: &firebreak_triage::Playbook,
    crisis: bool,
    message: &Message,
    classification: &firebreak_core::Classification,
) -> Vec<(usize, String)> {
    if classification.route != firebreak_core::Route::Reply {
        return Vec::new();
    }
    let Some(set) = classification.reply_set() else {
        return Vec::new();
    };
    let language = classification.language;
    let vars = vars(message, case_ref(message.id));
    (0..playbook.reply_variants(crisis, set, language).len())
        .filter_map(|index| {
            playbook
                .render_reply(crisis, set, language, index, &vars)
                .map(|text| (index, tidy(&text)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_contact_details_and_markup() {
        assert_eq!(clean("Jane +33 6 12 34 56 78"), "Jane");
        assert_eq!(clean("jane.doe@example.com"), "");
        assert_eq!(clean("{{ evil }} <b>Bob</b>"), "evil bBobb");
    }

    #[test]
    fn empty_names_leave_no_gap() {
        assert_eq!(
            tidy("Hi , thanks  for writing ."),
            "Hi, thanks for writing."
        );
    }

    #[test]
    fn case_refs_are_stable_and_short() {
        let id = MessageId::derive(firebreak_core::Channel::X, "42");
        assert_eq!(case_ref(id), case_ref(id));
        assert_eq!(case_ref(id).len(), 11);
    }
}
