//! Feeds text to the playbook loader, which takes YAML from the crisis team over HTTP.
//! Any input must load or be refused, never panic; a playbook that loads must render
//! every reply variant of both modes within the output bound.
#![no_main]

use firebreak_core::{FirstLine, Language};
use firebreak_triage::playbook::limits::MAX_RENDERED_BYTES;
use firebreak_triage::{Playbook, ReplyVars};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(yaml) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(playbook) = Playbook::load(yaml) else {
        return;
    };
    let vars = ReplyVars {
        handle: "@fuzz".into(),
        first_name: "Fuzz".into(),
        case_ref: "FB-1".into(),
        ..ReplyVars::default()
    };
    for crisis in [false, true] {
        let mode = playbook.mode(crisis);
        let mut sets: Vec<String> = mode.key_questions.iter().map(|q| q.id.clone()).collect();
        sets.push(FirstLine::Acknowledgement.reply_set().into());
        sets.push(FirstLine::Holding.reply_set().into());
        for set in &sets {
            for language in [Language::Fr, Language::En] {
                let variants = playbook.reply_variants(crisis, set, language).len();
                for variant in 0..variants {
                    if let Some(text) = playbook.render_reply(crisis, set, language, variant, &vars)
                    {
                        assert!(text.len() <= MAX_RENDERED_BYTES);
                    }
                }
            }
        }
    }
});
