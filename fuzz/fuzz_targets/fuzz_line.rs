//! Feeds raw bytes to the LINE webhook parser; any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(parsed) = firebreak_webhooks::parse_line(body) {
        for submission in &parsed.submissions {
            assert!(submission.validate().is_ok());
        }
    }
});
