//! A line diff between two playbook versions, in the unified format crisis teams know
//! from code review: `-` lines only in the first, `+` lines only in the second, and a
//! little context around each change.

/// Lines of context kept around each change.
const CONTEXT: usize = 2;

/// The longest-common-subsequence table is `n * m` cells; past this many, the middle of
/// two very different files is shown as one replaced block rather than aligned.
const MAX_TABLE_CELLS: usize = 4_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The unified diff of `old` to `new`, headed by their labels; empty when equal.
pub fn unified(old_label: &str, old: &str, new_label: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = line_ops(&a, &b);
    if ops.iter().all(|op| matches!(op, Op::Same(_))) {
        return String::new();
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    // Which ops to print: every change, with CONTEXT unchanged lines either side.
    let changed: Vec<bool> = ops.iter().map(|op| !matches!(op, Op::Same(_))).collect();
    let near_change = |i: usize| {
        let from = i.saturating_sub(CONTEXT);
        let to = (i + CONTEXT + 1).min(ops.len());
        changed[from..to].iter().any(|c| *c)
    };
    let (mut old_line, mut new_line) = (1usize, 1usize);
    let mut skipped = false;
    for (i, op) in ops.iter().enumerate() {
        if near_change(i) {
            if skipped || i == 0 {
                out.push_str(&format!("@@ -{old_line} +{new_line} @@\n"));
                skipped = false;
            }
            match op {
                Op::Same(line) => out.push_str(&format!(" {line}\n")),
                Op::Removed(line) => out.push_str(&format!("-{line}\n")),
                Op::Added(line) => out.push_str(&format!("+{line}\n")),
            }
        } else {
            skipped = true;
        }
        match op {
            Op::Same(_) => {
                old_line += 1;
                new_line += 1;
            }
            Op::Removed(_) => old_line += 1,
            Op::Added(_) => new_line += 1,
        }
    }
    out
}

/// The edit from `a` to `b`: common head and tail as they are, the middle aligned by a
/// longest common subsequence of lines.
fn line_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut ops: Vec<Op> = a[..head].iter().map(|l| Op::Same(l)).collect();
    if mid_a.len().saturating_mul(mid_b.len()) > MAX_TABLE_CELLS {
        ops.extend(mid_a.iter().map(|l| Op::Removed(l)));
        ops.extend(mid_b.iter().map(|l| Op::Added(l)));
    } else {
        ops.extend(aligned(mid_a, mid_b));
    }
    ops.extend(a[a.len() - tail..].iter().map(|l| Op::Same(l)));
    ops
}

fn aligned<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Same(a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            // Removals first on a tie, so a changed line reads `-old` then `+new`.
            ops.push(Op::Removed(a[i]));
            i += 1;
        } else {
            ops.push(Op::Added(b[j]));
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sources_have_no_diff() {
        assert_eq!(unified("a", "x\ny\n", "b", "x\ny\n"), "");
    }

    #[test]
    fn a_changed_line_shows_as_removed_then_added_with_context() {
        let old = "name: a\none\ntwo\nthree\nfour\nfive\nsix\n";
        let new = "name: a\none\ntwo\nTHREE\nfour\nfive\nsix\nseven\n";
        let diff = unified("a@1", old, "a@2", new);
        assert_eq!(
            diff,
            "--- a@1\n+++ a@2\n@@ -2 +2 @@\n one\n two\n-three\n+THREE\n four\n five\n six\n+seven\n"
        );
    }
}
