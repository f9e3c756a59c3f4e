//! The two text expositions `/metrics` serves: OpenMetrics, which prometheus-client
//! writes and Prometheus asks for, and the classic 0.0.4 format derived from it, which
//! `promtool check metrics`, curl users and older scrapers read.

/// OpenMetrics to the 0.0.4 text format: a counter family is named with its `_total`
/// suffix in HELP and TYPE (OpenMetrics names it without), and `# UNIT` and `# EOF`
/// go.
pub(super) fn classic_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    let lines: Vec<&str> = open_metrics.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let counter_family = |name: &str| {
            lines[i..]
                .iter()
                .take(3)
                .any(|l| *l == format!("# TYPE {name} counter"))
        };
        let renamed = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["#", kind @ ("HELP" | "TYPE"), name, ..] if counter_family(name) => {
                let rest = &line[(2 + kind.len() + 1 + name.len())..];
                Some(format!("# {kind} {name}_total{rest}"))
            }
            _ => None,
        };
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
