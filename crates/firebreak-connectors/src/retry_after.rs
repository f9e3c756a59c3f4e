//! Reading "come back later" from the platforms' answers.
//!
//! `Retry-After` (RFC 9110 §10.2.3) is either delta-seconds or an HTTP-date. X instead
//! sends `x-rate-limit-reset` as Unix seconds, and Telegram puts `retry_after` in its
//! JSON body. All of them end up as a `Duration` from now.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Parses a `Retry-After` value relative to `now`.
///
/// Returns `None` only when the value is not a delay at all, so the caller falls back to
/// its own backoff. A delay too large to represent saturates instead of failing: reading
/// "a very long time" as "no hint" would make us retry sooner than asked.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too long for u64: saturate, never shorten.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds));
    }
    if let Some(delay) = parse_fractional_seconds(value) {
        return Some(delay);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    // A date in the past means "now"; `duration_since` fails exactly then.
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Some servers send `1.5`; RFC 9110 does not allow it, but rounding it down to "no
/// hint" would retry too early, so it is honoured, rounded up to whole milliseconds.
fn parse_fractional_seconds(value: &str) -> Option<Duration> {
    let looks_decimal = value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().filter(|&b| b == b'.').count() == 1;
    if !looks_decimal {
        return None;
    }
    let seconds: f64 = value.parse().ok()?;
    let millis = (seconds * 1000.0).ceil();
    if !millis.is_finite() || millis < 0.0 {
        return None;
    }
    // `as` saturates for floats beyond u64, which is the behaviour we want.
    Some(Duration::from_millis(millis as u64))
}

/// Parses X's `x-rate-limit-reset` (Unix seconds when the window reopens) relative to
/// `now`. A reset in the past means "now".
pub fn parse_unix_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let reset_secs = value.parse::<u64>().ok()?;
    let reset_at = UNIX_EPOCH.checked_add(Duration::from_secs(reset_secs))?;
    Some(reset_at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` header of a response, if present and readable.
pub(crate) fn retry_after_header(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(unix_secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix_secs)
    }

    #[test]
    fn delta_seconds_are_read_as_seconds() {
        assert_eq!(
            parse_retry_after("120", at(0)),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1 ", at(0)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(parse_retry_after("0", at(0)), Some(Duration::ZERO));
    }

    #[test]
    fn an_http_date_is_read_relative_to_now() {
        // 1994-11-06T08:49:37Z is 784111777 in Unix seconds (RFC 9110's example date).
        let now = at(784_111_777 - 30);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn an_http_date_in_the_past_means_now() {
        let now = at(784_111_777 + 3600);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_huge_delay_saturates_instead_of_being_ignored() {
        let huge = "99999999999999999999999999";
        assert_eq!(
            parse_retry_after(huge, at(0)),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn fractional_seconds_round_up() {
        assert_eq!(
            parse_retry_after("1.0001", at(0)),
            Some(Duration::from_millis(1001))
        );
    }

    #[test]
    fn garbage_and_negative_values_give_no_hint() {
        for value in [
            "",
            "soon",
            "-1",
            "1e3",
            "1.2.3",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(value, at(0)), None, "{value:?}");
        }
    }

    #[test]
    fn x_reset_is_unix_seconds_relative_to_now() {
        assert_eq!(
            parse_unix_reset("1000", at(990)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_unix_reset("1000", at(2000)), Some(Duration::ZERO));
        assert_eq!(parse_unix_reset("abc", at(0)), None);
    }

    proptest! {
        #[test]
        fn parsing_any_string_never_panics(value in ".{0,64}", now in 0u64..4_000_000_000) {
            let _ = parse_retry_after(&value, at(now));
            let _ = parse_unix_reset(&value, at(now));
        }

        #[test]
        fn any_delta_seconds_round_trips(seconds in any::<u64>()) {
            prop_assert_eq!(
                parse_retry_after(&seconds.to_string(), at(0)),
                Some(Duration::from_secs(seconds))
            );
        }

        #[test]
        fn a_future_http_date_is_never_read_shorter_than_it_is(
            now in 0u64..4_000_000_000,
            ahead in 0u64..1_000_000,
        ) {
            let date = httpdate::fmt_http_date(at(now + ahead));
            prop_assert_eq!(
                parse_retry_after(&date, at(now)),
                Some(Duration::from_secs(ahead))
            );
        }
    }
}
