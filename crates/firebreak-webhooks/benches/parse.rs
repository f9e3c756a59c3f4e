//! Parse throughput per platform, on the test fixtures. Signature checks are included
//! for Meta because every real delivery pays for both.
//!
//! `CARGO_TARGET_DIR=/work/target-webhooks cargo bench -p firebreak-webhooks --bench parse`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firebreak_webhooks::{Secret, parse_meta, parse_telegram, parse_x, verify_meta_signature};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::hint::black_box;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).expect("fixture")
}

/// A parser reduced to the number of submissions it found, so results are used.
type CountSubmissions = fn(&[u8]) -> usize;

fn parsers(c: &mut Criterion) {
    let cases: [(&str, &str, CountSubmissions); 5] = [
        ("messenger", "messenger_text.json", |b| {
            parse_meta(b).map_or(0, |p| p.submissions.len())
        }),
        ("whatsapp", "whatsapp_text.json", |b| {
            parse_meta(b).map_or(0, |p| p.submissions.len())
        }),
        ("page_comment", "page_comment.json", |b| {
            parse_meta(b).map_or(0, |p| p.submissions.len())
        }),
        ("telegram", "telegram_group.json", |b| {
            parse_telegram(b).map_or(0, |p| p.submissions.len())
        }),
        ("x_dm", "x_dm.json", |b| {
            parse_x(b, None).map_or(0, |p| p.submissions.len())
        }),
    ];
    let mut group = c.benchmark_group("parse");
    for (label, file, parse) in cases {
        let body = fixture(file);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(label, |b| b.iter(|| parse(black_box(&body))));
    }
    group.finish();
}

fn verify_then_parse(c: &mut Criterion) {
    let body = fixture("messenger_text.json");
    let secret = Secret::new("bench-secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"bench-secret").expect("any key length");
    mac.update(&body);
    let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    c.bench_function("meta_verify_and_parse", |b| {
        b.iter(|| {
            verify_meta_signature(&secret, black_box(&body), Some(header.as_bytes()))
                .expect("valid signature");
            parse_meta(black_box(&body)).expect("valid body")
        })
    });
}

criterion_group!(benches, parsers, verify_then_parse);
criterion_main!(benches);
