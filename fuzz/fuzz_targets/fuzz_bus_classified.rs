//! Feeds raw bytes to the bus decoder of classified messages (`FB_REPLY`,
//! `FB_ESCALATE`), what the reply and escalation roles read. Garbage must be an error,
//! never a panic; what decodes must round-trip to the same bytes.
#![no_main]

use firebreak_core::wire::{decode_classified, encode_classified};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok((message, classification)) = decode_classified(bytes) {
        let encoded = encode_classified(&message, &classification);
        let (m, c) = decode_classified(&encoded).expect("what Firebreak encodes decodes");
        assert_eq!(
            encode_classified(&m, &c),
            encoded,
            "the round trip is stable"
        );
    }
});
