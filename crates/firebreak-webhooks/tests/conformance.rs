//! The conformance corpus: one fixture per documented payload kind of every platform,
//! under `tests/corpus/<platform>/<kind>.json`, each holding the payload and what it
//! must become: the normalised messages (channel, visibility, thread, author, text…)
//! or the skip reasons it is counted under. One table-driven test runs them all.
//!
//! Adding a payload kind is adding a file; adding a platform is adding a folder and
//! its parser to [`parse`].

use std::path::{Path, PathBuf};

use firebreak_core::wire::Submission;
use firebreak_webhooks::{Parsed, parse_line, parse_meta, parse_telegram, parse_x};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Fixture {
    doc: String,
    expect: Expect,
    /// Kept as the exact bytes written, as a platform would sign them.
    payload: Box<RawValue>,
}

#[derive(Deserialize)]
struct Expect {
    submissions: Vec<Expected>,
    /// Skip reasons as counted in metrics (`SkipReason::as_str`), in order.
    skipped: Vec<String>,
}

/// The fields every normalised message is checked on; the optional ones only when the
/// fixture names them.
#[derive(Deserialize)]
struct Expected {
    channel: String,
    visibility: String,
    external_id: String,
    thread_id: String,
    author_id: String,
    text: String,
    author_name: Option<String>,
    author_handle: Option<String>,
    author_is_bot: Option<bool>,
    edit_of: Option<String>,
    attachments: Option<Vec<String>>,
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every fixture, as (platform folder, kind, path), sorted for stable output.
fn fixtures() -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for platform in std::fs::read_dir(corpus_root()).unwrap() {
        let platform = platform.unwrap().path();
        let folder = platform.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&platform).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let kind = path.file_stem().unwrap().to_string_lossy().into_owned();
                out.push((folder.clone(), kind, path));
            }
        }
    }
    out.sort();
    out
}

/// The parser each folder's payloads go to.
fn parse(platform: &str, body: &[u8]) -> Parsed {
    let result = match platform {
        "messenger" | "instagram" | "page" | "whatsapp" => parse_meta(body),
        "telegram" => parse_telegram(body),
        "x" => parse_x(body, None),
        "line" => parse_line(body),
        other => panic!("no parser for corpus folder {other}"),
    };
    result.unwrap_or_else(|e| panic!("{platform}: delivery refused: {e}"))
}

/// Every difference between a submission and its expectation, as readable lines.
fn differences(got: &Submission, want: &Expected) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |field: &str, got: &str, want: &str| {
        if got != want {
            diffs.push(format!("{field}: got {got:?}, want {want:?}"));
        }
    };
    check("channel", got.channel.as_str(), &want.channel);
    check("visibility", got.visibility.as_str(), &want.visibility);
    check("external_id", &got.external_id, &want.external_id);
    check("thread_id", &got.thread_id, &want.thread_id);
    check("author.id", &got.author.id, &want.author_id);
    check("text", &got.text, &want.text);
    if let Some(name) = &want.author_name {
        check("author.name", &got.author.name, name);
    }
    if let Some(handle) = &want.author_handle {
        check("author.handle", &got.author.handle, handle);
    }
    if let Some(is_bot) = want.author_is_bot {
        check(
            "author.is_bot",
            &got.author.is_bot.to_string(),
            &is_bot.to_string(),
        );
    }
    if let Some(edit_of) = &want.edit_of {
        check("edit_of", got.edit_of.as_deref().unwrap_or(""), edit_of);
    }
    if let Some(kinds) = &want.attachments {
        let got_kinds: Vec<&str> = got.attachments.iter().map(|a| a.kind.as_str()).collect();
        check("attachments", &got_kinds.join(","), &kinds.join(","));
    }
    diffs
}

#[test]
fn every_documented_payload_kind_normalises_as_expected() {
    let mut failures = Vec::new();
    let all = fixtures();
    for (platform, kind, path) in &all {
        let text = std::fs::read_to_string(path).unwrap();
        let fixture: Fixture =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!fixture.doc.is_empty(), "{platform}/{kind}: say what it is");
        let parsed = parse(platform, fixture.payload.get().as_bytes());
        let name = format!("{platform}/{kind}");
        let skipped: Vec<&str> = parsed.skipped.iter().map(|s| s.as_str()).collect();
        if skipped != fixture.expect.skipped {
            failures.push(format!(
                "{name}: skipped {skipped:?} ({:?}), want {:?}",
                parsed.skipped, fixture.expect.skipped
            ));
        }
        if parsed.submissions.len() != fixture.expect.submissions.len() {
            failures.push(format!(
                "{name}: {} submissions, want {}",
                parsed.submissions.len(),
                fixture.expect.submissions.len()
            ));
            continue;
        }
        for (got, want) in parsed.submissions.iter().zip(&fixture.expect.submissions) {
            assert!(got.validate().is_ok(), "{name}: passes core validation");
            for diff in differences(got, want) {
                failures.push(format!("{name}: {diff}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_corpus_covers_every_platform_and_at_least_forty_kinds() {
    let all = fixtures();
    assert!(all.len() >= 40, "{} payload kinds", all.len());
    for platform in [
        "messenger",
        "instagram",
        "page",
        "whatsapp",
        "telegram",
        "x",
        "line",
    ] {
        let kinds = all.iter().filter(|(p, _, _)| p == platform).count();
        assert!(kinds >= 5, "{platform}: only {kinds} kinds");
    }
}

#[test]
fn no_user_message_in_the_corpus_is_lost_to_an_unexpected_field() {
    // Every fixture's payload with an extra field of every JSON type added to each
    // object it holds still parses to the same messages: new platform fields are
    // ignored, never a refused delivery.
    for (platform, kind, path) in fixtures() {
        let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut payload: serde_json::Value = serde_json::from_str(fixture.payload.get()).unwrap();
        add_unknown_fields(&mut payload);
        let body = serde_json::to_vec(&payload).unwrap();
        let parsed = parse(&platform, &body);
        assert_eq!(
            parsed.submissions.len(),
            fixture.expect.submissions.len(),
            "{platform}/{kind} with unknown fields"
        );
    }
}

fn add_unknown_fields(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for v in map.values_mut() {
                add_unknown_fields(v);
            }
            map.insert(
                "zz_new_field".into(),
                serde_json::json!({"a": [1, "b", null]}),
            );
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(add_unknown_fields),
        _ => {}
    }
}
