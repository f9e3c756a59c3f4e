//! Feeds raw bytes to the Meta webhook parser. Any panic is a bug: the body comes
//! straight from the network, after only a signature check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(parsed) = firebreak_webhooks::parse_meta(body) {
        // Whatever a parser accepts must pass the limits the rest of the pipeline enforces.
        for submission in &parsed.submissions {
            assert!(submission.validate().is_ok());
        }
    }
});
