//! Abusive playbooks cost neither memory nor time: each is refused, and the process's
//! peak RSS stays under a bound. One test in its own binary, so no other test shares
//! the process's memory figures.

use std::time::{Duration, Instant};

use firebreak_triage::playbook::{BUILTIN_YAML, limits};
use firebreak_triage::{Playbook, PlaybookError};

/// A kilobyte anchor repeated 2,000 times: 2 MB once expanded (the probe took
/// 267 MB of RSS with this shape).
fn alias_bomb() -> String {
    let mut yaml = format!("name: bomb\nx: &a \"{}\"\ndescription: [", "A".repeat(1024));
    yaml.push_str(&vec!["*a"; 2_000].join(","));
    yaml.push_str("]\n");
    yaml
}

/// Three nested loops over 100 items in the first reply.
fn template_loops() -> String {
    let list = vec!["1"; 100].join(",");
    let loops = format!(
        "{{% for a in [{list}] %}}{{% for b in [{list}] %}}{{% for c in [{list}] %}}{{% endfor %}}{{% endfor %}}{{% endfor %}}"
    );
    BUILTIN_YAML.replacen(
        "- \"Hi {{ handle }}, sorry for the wait!",
        &format!("- \"{loops}Hi {{{{ handle }}}}, sorry for the wait!"),
        1,
    )
}

/// `count` copies of `\w{100}` as the first question's English patterns.
fn patterns(count: usize) -> String {
    let lines: String = (0..count)
        .map(|i| format!("        - '\\w{{100}}{i}'\n"))
        .collect();
    BUILTIN_YAML.replacen(
        "      en:\n        - '\\b(where is",
        &format!("      en:\n{lines}        - '\\b(where is"),
        1,
    )
}

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
