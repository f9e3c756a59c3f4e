//! Feeds raw bytes to the X Account Activity parser, with and without a configured
//! brand id, since the brand decides which events are skipped; any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for brand in [None, Some("2244994945")] {
        if let Ok(parsed) = firebreak_webhooks::parse_x(body, brand) {
            for submission in &parsed.submissions {
                assert!(submission.validate().is_ok());
            }
        }
    }
});
