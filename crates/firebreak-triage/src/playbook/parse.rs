//! From YAML to a [`PlaybookSpec`], reporting every structural mistake (an unknown
//! field, a value of the wrong type, an unknown enum variant) rather than the first.
//!
//! serde stops at the first error. So the document is read once into a YAML value, then
//! deserialised again and again: each error is recorded with its field path, the node
//! at fault is taken out (its field then falls back to its default), and the next
//! attempt finds the next mistake. Semantic checks later skip whatever sits under a
//! node taken out, so one mistake is never reported twice.

use serde_norway::Value;
use serde_path_to_error::Segment;

use super::schema::PlaybookSpec;
use super::validate::Issue;

/// More attempts than this and the rest is left for the next round: each attempt costs
/// one pass over a document of at most `limits::MAX_EXPANDED_BYTES`.
const MAX_ATTEMPTS: usize = 32;

/// What the parse found: the spec when the document could be read at all, every
/// structural issue, and the paths taken out.
#[derive(Debug)]
pub(super) struct Parsed {
    pub spec: Option<PlaybookSpec>,
    pub issues: Vec<Issue>,
    /// Paths whose node was taken out; semantic issues under them are not reported.
    pub removed: Vec<String>,
    /// Top-level sections the document does not write (they take their defaults).
    pub absent: Vec<&'static str>,
}

/// Sections whose defaults `playbook check` reports when they are left out.
pub const DEFAULTED_SECTIONS: [&str; 6] = [
    "sensitivity",
    "thresholds",
    "budgets",
    "sla",
    "surge",
    "first_line",
];

/// Reads `yaml`. A YAML syntax error is returned as `Err` with its line: nothing after
/// it can be read reliably.
pub(super) fn parse(yaml: &str) -> Result<Parsed, (Option<usize>, String)> {
    let mut value: Value = serde_norway::from_str(yaml).map_err(|error| {
        let line = error.location().map(|l| l.line());
        let mut message = error.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        (line, message)
    })?;
    // Merge keys (`<<: *anchor`) are applied before anything reads the mapping.
    value
        .apply_merge()
        .map_err(|error| (None, error.to_string()))?;
    let absent = match &value {
        Value::Mapping(map) => DEFAULTED_SECTIONS
            .into_iter()
            .filter(|section| !map.contains_key(*section))
            .collect(),
        _ => Vec::new(),
    };
    let mut issues = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let error = match serde_path_to_error::deserialize::<_, PlaybookSpec>(value.clone()) {
            Ok(spec) => {
                return Ok(Parsed {
                    spec: Some(spec),
                    issues,
                    removed,
                    absent,
                });
            }
            Err(error) => error,
        };
        let message = error.inner().to_string();
        let mut segments: Vec<Segment> = error.path().iter().cloned().collect();
        // An unknown field is reported at its struct; the field itself is what goes.
        if let Some(field) = unknown_field(&message)
            && !matches!(segments.last(), Some(Segment::Map { key }) if *key == field)
        {
            segments.push(Segment::Map { key: field });
        }
        let path = dotted(&segments);
        if removed.contains(&path) && blank_string(&mut value, &segments) {
            // A list item that is not a mapping either: an empty string, then.
            continue;
        }
        if removed.contains(&path) || segments.is_empty() || !remove(&mut value, &segments) {
            // Nothing left to take out: report it and stop here.
            issues.push(Issue {
                path: if path.is_empty() {
                    "(root)".into()
                } else {
                    path
                },
                message,
            });
            break;
        }
        issues.push(Issue {
            path: path.clone(),
            message,
        });
        removed.push(path);
    }
    Ok(Parsed {
        spec: None,
        issues,
        removed,
        absent,
    })
}

/// The field named by serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// `key_questions[1].replies.en[2]`, as the rest of the playbook's messages write paths.
pub(super) fn dotted(segments: &[Segment]) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Segment::Unknown => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push('?');
            }
        }
    }
    path
}

/// Takes the node at `segments` out of `value`: a mapping entry is removed (its field
/// falls back to its default), a list item is replaced by an empty mapping so that the
/// items after it keep their index, and so their line. False when there is no such node.
fn remove(value: &mut Value, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = value;
    for segment in parents {
        let next = match (segment, node) {
            (Segment::Map { key }, Value::Mapping(map)) => map.get_mut(key.as_str()),
            (Segment::Seq { index }, Value::Sequence(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(child) => node = child,
            None => return false,
        }
    }
    match (last, node) {
        (Segment::Map { key }, Value::Mapping(map)) => map.remove(key.as_str()).is_some(),
        (Segment::Seq { index }, Value::Sequence(items)) => match items.get_mut(*index) {
            Some(item) => {
                *item = Value::Mapping(Default::default());
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// A list item already replaced by an empty mapping, for a list of strings: replaced
/// again, by an empty string. False when `segments` is not such an item.
fn blank_string(value: &mut Value, segments: &[Segment]) -> bool {
    if !matches!(segments.last(), Some(Segment::Seq { .. })) {
        return false;
    }
    let mut node = value;
    for segment in segments {
        let next = match (segment, node) {
            (Segment::Map { key }, Value::Mapping(map)) => map.get_mut(key.as_str()),
            (Segment::Seq { index }, Value::Sequence(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(child) => node = child,
            None => return false,
        }
    }
    if matches!(node, Value::Mapping(map) if map.is_empty()) {
        *node = Value::String(String::new());
        return true;
    }
    false
}

/// Whether `path` is `removed` or lies under it.
pub(super) fn under(path: &str, removed: &[String]) -> bool {
    removed.iter().any(|r| {
        path == r
            || path
                .strip_prefix(r.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}
