//! Feeds raw bytes to the bus decoder of inbound messages (`FB_INBOUND`), what every
//! classify replica reads. Garbage must be an error, never a panic; what decodes must
//! encode and decode again to the same bytes (floats compared as bytes, so NaN is fine).
#![no_main]

use firebreak_core::wire::{decode_message, encode_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(message) = decode_message(bytes) {
        let encoded = encode_message(&message);
        let again = decode_message(&encoded).expect("what Firebreak encodes decodes");
        assert_eq!(encode_message(&again), encoded, "the round trip is stable");
    }
});
