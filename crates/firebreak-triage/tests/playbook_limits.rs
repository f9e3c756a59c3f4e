//! Abusive playbooks cost neither memory nor time: each is refused, and the process's
//! peak RSS stays under a bound. One test in its own binary, so no other test shares
//! the process's memory figures.

use std::time::{Duration, Instant};

use firebreak_triage::playbook::abuse::{alias_bomb, patterns, template_loops};
use firebreak_triage::playbook::limits;
use firebreak_triage::{Playbook, PlaybookError};

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn abusive_playbooks_are_refused_quickly_and_cheaply() {
    let cases = [
        ("alias amplification", alias_bomb(), "aliases expanded"),
        ("template loops", template_loops(), "template instructions"),
        ("regex count", patterns(200), "at most 32 patterns"),
        ("regex size", patterns(25), "compile to more than"),
    ];
    for (name, yaml, expected) in &cases {
        assert!(
            yaml.len() <= limits::MAX_SOURCE_BYTES,
            "{name} fits an upload"
        );
        // Several rounds: what one refusal leaks would add up.
        for _ in 0..5 {
            let begun = Instant::now();
            match Playbook::load(yaml) {
                Err(PlaybookError::Invalid { message, .. }) => {
                    assert!(message.contains(expected), "{name}: {message}")
                }
                other => panic!("{name}: expected a refusal, got {other:?}"),
            }
            // 100 ms is the target on a quiet machine (see the benches); the bound here
            // leaves room for a loaded CI runner.
            assert!(
                begun.elapsed() < Duration::from_millis(500),
                "{name} took {:?}",
                begun.elapsed()
            );
        }
    }
    if let Some(peak) = status_kib("VmHWM:") {
        assert!(peak < 150 * 1024, "peak RSS {peak} KiB");
    }
}
