//! Helpers shared by the integration tests.

#![allow(dead_code)]

use firebreak_core::wire::Submission;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// The one submission in `submissions`, failing the test if there are more or none.
pub fn only(submissions: &[Submission]) -> &Submission {
    assert_eq!(submissions.len(), 1, "expected one submission");
    &submissions[0]
}
