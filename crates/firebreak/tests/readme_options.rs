//! The README's `firebreak run` option table is checked against `--help`: every option
//! has help text, every option and its environment variable have a row, and every row
//! names an option that exists. A new flag cannot ship undocumented.

use std::path::Path;
use std::process::Command;

/// (option, environment variable, has help text), read from `firebreak run --help`.
fn help_options() -> Vec<(String, String, bool)> {
    let out = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = help.lines().collect();
    let mut options = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if indent >= 8 || !line.trim_start().starts_with('-') {
            continue;
        }
        let Some(flag) = line.split_whitespace().find(|w| w.starts_with("--")) else {
            continue;
        };
        let flag = flag.trim_end_matches(',').to_string();
        if flag == "--help" {
            continue;
        }
        // The option's block: its description lines up to the next option.
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| {
                let indent = l.len() - l.trim_start().len();
                !(indent < 8 && l.trim_start().starts_with('-'))
            })
            .copied()
            .collect();
        let words: Vec<&str> = block.iter().flat_map(|l| l.split_whitespace()).collect();
        let env = words
            .iter()
            .position(|w| *w == "[env:")
            .and_then(|p| words.get(p + 1))
            .map(|w| w.split(['=', ']']).next().unwrap_or("").to_string())
            .unwrap_or_default();
        let described = words
            .first()
            .is_some_and(|w| !w.starts_with('[') && !w.is_empty());
        options.push((flag, env, described));
    }
    options
}

fn readme_rows() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let table = readme
        .split("| option | environment | default |")
        .nth(1)
        .expect("README has the option table");
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_run_option_has_help_and_a_readme_row() {
    let options = help_options();
    assert!(options.len() > 40, "parsed --help: {options:?}");
    let rows = readme_rows();
    for (flag, env, described) in &options {
        assert!(described, "{flag} has no help text");
        let row = rows
            .iter()
            .find(|r| r.contains(&format!("`{flag}`")))
            .unwrap_or_else(|| panic!("README's option table has no row for {flag}"));
        if !env.is_empty() {
            assert!(
                row.contains(&format!("`{env}`")),
                "README's row for {flag} does not name {env}: {row}"
            );
        }
    }
    for row in &rows {
        for flag in row.split('`').filter(|w| w.starts_with("--")) {
            assert!(
                options.iter().any(|(f, _, _)| f == flag),
                "README lists {flag}, which `firebreak run` does not have"
            );
        }
    }
    for required in ["--notify-webhook-url", "--reply-ack-wait-secs"] {
        assert!(rows.iter().any(|r| r.contains(required)), "{required}");
    }
}
