//! What every parser returns: the submissions found in a delivery, the events skipped on
//! purpose, and the one error type for a delivery that cannot be read at all.

use firebreak_core::wire::Submission;
use firebreak_core::{ErrorCode, FirebreakError};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// The outcome of parsing one webhook delivery. A delivery may carry many events; each
/// becomes either a submission or a skip reason, so the caller can count both.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub submissions: Vec<Submission>,
    pub skipped: Vec<SkipReason>,
    /// Fields read in another JSON type than documented (an id as a number, a count as
    /// a string) and coerced rather than refused. Worth a counter, not a failure.
    pub coerced: usize,
}

impl Parsed {
    pub(crate) fn skip(&mut self, reason: SkipReason) {
        self.skipped.push(reason);
    }

    /// Keeps a submission that passes the limits every source must respect; one
    /// oversized message is skipped alone rather than failing its whole batch, which the
    /// platform would otherwise redeliver for days.
    pub(crate) fn accept(&mut self, submission: Submission) {
        match submission.validate() {
            Ok(()) => self.submissions.push(submission),
            Err(e) => self.skipped.push(SkipReason::Invalid(e.message)),
        }
    }
}

/// Why an event in a well-formed delivery produced no submission. Acknowledge these with
/// 200: a platform retries anything else, forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The brand's own outgoing message echoed back (Meta `is_echo`).
    Echo,
    /// A delivery receipt (Meta `delivery`, WhatsApp status `delivered`/`sent`).
    Delivery,
    /// A read receipt (Meta `read`, WhatsApp status `read`, X mark-read).
    Read,
    /// Any other WhatsApp message status, such as `failed`.
    Status,
    /// Written by the brand itself: its own comment, tweet or DM.
    OwnEvent,
    /// Handover protocol: another app owns the conversation, so Firebreak stays out.
    Standby,
    /// The user deleted or retracted the message, or it was a removal notice.
    Deleted,
    /// A retweet carries no words of its own to answer.
    Retweet,
    /// A known event with nothing to answer: a reaction, a sticker-only message, a
    /// message type the platform marks unsupported.
    NoContent,
    /// Someone started following the brand or joined a conversation it is in (LINE
    /// `follow`, `join`, `memberJoined`).
    Follow,
    /// Someone stopped following (blocked) the brand or left a conversation it is in
    /// (LINE `unfollow`, `leave`, `memberLeft`). A spike is a crisis signal worth a graph.
    Unfollow,
    /// A tap on a postback button: its data is the brand's own code, not the user's
    /// words (LINE `postback`; any text the button shows arrives as a message event).
    Postback,
    /// An event or field this crate does not handle. The name is the platform's key,
    /// cut to 64 bytes; use [`SkipReason::as_str`], not the name, as a metric label.
    UnknownEvent(String),
    /// The event breaks a submission limit; the message names the field, never its text.
    Invalid(String),
}

impl SkipReason {
    /// A stable, low-cardinality label for counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::Echo => "echo",
            SkipReason::Delivery => "delivery",
            SkipReason::Read => "read",
            SkipReason::Status => "status",
            SkipReason::OwnEvent => "own_event",
            SkipReason::Standby => "standby",
            SkipReason::Deleted => "deleted",
            SkipReason::Retweet => "retweet",
            SkipReason::NoContent => "no_content",
            SkipReason::Follow => "follow",
            SkipReason::Unfollow => "unfollow",
            SkipReason::Postback => "postback",
            SkipReason::UnknownEvent(_) => "unknown_event",
            SkipReason::Invalid(_) => "invalid",
        }
    }

    pub(crate) fn unknown(kind: &str) -> Self {
        SkipReason::UnknownEvent(truncate(kind, 64).to_owned())
    }
}

/// A delivery that cannot be read. Both variants answer 400. The message is safe to show
/// and to log: it names where the problem is, never the text around it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body is not valid UTF-8 (first bad byte at offset {valid_up_to})")]
    InvalidUtf8 { valid_up_to: usize },
    #[error("malformed JSON at {field}: {reason}")]
    MalformedJson {
        /// Path of the offending value, such as `entry[0].messaging[1].timestamp`, or
        /// `.` for the document itself.
        field: String,
        reason: String,
    },
}

impl ParseError {
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The path of the offending value, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ParseError::InvalidUtf8 { .. } => None,
            ParseError::MalformedJson { field, .. } => Some(field),
        }
    }

    /// A stable label for counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            ParseError::InvalidUtf8 { .. } => "invalid_utf8",
            ParseError::MalformedJson { .. } => "malformed_json",
        }
    }
}

impl From<ParseError> for FirebreakError {
    fn from(e: ParseError) -> Self {
        FirebreakError::new(ErrorCode::InvalidArgument, e.to_string())
    }
}

/// Checks the body is UTF-8 before anything looks at it as JSON, so the caller can tell
/// the two failures apart.
pub(crate) fn utf8(body: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(body).map_err(|e| ParseError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })
}

/// Deserializes one event of a delivery. An event that does not fit its schema is
/// skipped alone, counted as `invalid` with the field named, and `None` returned: one
/// odd field never refuses a whole delivery, which the platform would resend for days.
pub(crate) fn decode_event<T: DeserializeOwned>(
    json: &str,
    prefix: &str,
    out: &mut Parsed,
) -> Option<T> {
    match decode(json, prefix) {
        Ok(value) => Some(value),
        Err(e) => {
            out.skip(SkipReason::Invalid(e.to_string()));
            None
        }
    }
}

/// Deserializes `json`, naming the failing field as `prefix` + the path inside `json`.
pub(crate) fn decode<T: DeserializeOwned>(json: &str, prefix: &str) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.path().to_string();
        let field = join_path(prefix, &inner);
        ParseError::MalformedJson {
            field,
            reason: safe_reason(e.inner()),
        }
    })?;
    // Trailing bytes after the document are malformed too.
    de.end().map_err(|e| ParseError::MalformedJson {
        field: join_path(prefix, "."),
        reason: safe_reason(&e),
    })?;
    Ok(value)
}

fn join_path(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner == ".") {
        (true, _) => inner.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    }
}

/// serde_json's messages quote the offending value (`invalid type: string "…"`), which
/// may be someone's message. Keep only what the schema, not the input, wrote.
fn safe_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Eof => format!("unexpected end of input at {at}"),
        Category::Syntax | Category::Io => format!("syntax error at {at}"),
        Category::Data => {
            let message = e.to_string();
            if let Some(rest) = message.strip_prefix("missing field ") {
                let name = rest.split(" at line").next().unwrap_or(rest);
                format!("missing field {name}")
            } else if let Some((_, expected)) = message.rsplit_once(", expected ") {
                let expected = expected.split(" at line").next().unwrap_or(expected);
                format!("wrong type or value, expected {}", truncate(expected, 80))
            } else {
                "wrong type or value".to_owned()
            }
        }
    }
}

pub(crate) fn truncate(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Unix milliseconds (Meta messaging, X) to a time; out-of-range values give `None`
/// rather than an error, since `sent_at` falls back to the time of receipt.
pub(crate) fn from_unix_millis(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Unix seconds (WhatsApp, Telegram, Page feed) to a time.
pub(crate) fn from_unix_seconds(s: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s).ok()
}

/// For the few fields documented sometimes in seconds and sometimes in milliseconds
/// (Meta's `entry[].time`): no real event predates 1973 in ms, nor postdates 5138 in s.
pub(crate) fn from_unix_seconds_or_millis(t: i64) -> Option<OffsetDateTime> {
    if t.abs() >= 100_000_000_000 {
        from_unix_millis(t)
    } else {
        from_unix_seconds(t)
    }
}

/// Parses a decimal string timestamp as X and WhatsApp send them (`"1516403560557"`).
pub(crate) fn numeric_string(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Probe {
        #[allow(dead_code)]
        count: u32,
    }

    #[test]
    fn type_error_names_field_and_hides_value() {
        let err = decode::<Probe>(r#"{"count":"my secret words"}"#, "entry[0]").unwrap_err();
        assert_eq!(err.field(), Some("entry[0].count"));
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn timestamps_in_either_unit_land_in_the_same_second() {
        assert_eq!(
            from_unix_seconds_or_millis(1_700_000_000),
            from_unix_seconds_or_millis(1_700_000_000_000)
        );
        assert_eq!(from_unix_millis(i64::MAX), None);
    }
}
