//! Abusive playbooks, as an attacker with a crisis token could upload them: the probes
//! the limits are tested and benchmarked against (`tests/playbook_limits.rs`, the
//! server's upload test, `benches/playbook_limits.rs`).

use super::BUILTIN_YAML;

/// A kilobyte anchor repeated 2,000 times: 2 MB once expanded (the probe took
/// 267 MB of RSS with this shape).
pub fn alias_bomb() -> String {
    let mut yaml = format!("name: bomb\nx: &a \"{}\"\ndescription: [", "A".repeat(1024));
    yaml.push_str(&vec!["*a"; 2_000].join(","));
    yaml.push_str("]\n");
    yaml
}

/// Three nested loops over 100 items in the first reply.
pub fn template_loops() -> String {
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
pub fn patterns(count: usize) -> String {
    let lines: String = (0..count)
        .map(|i| format!("        - '\\w{{100}}{i}'\n"))
        .collect();
    BUILTIN_YAML.replacen(
        "      en:\n        - '\\b(where is",
        &format!("      en:\n{lines}        - '\\b(where is"),
        1,
    )
}
