//! Maps a field path such as `key_questions[1].replies.en[2]` to the line it sits on.
//!
//! serde_norway reports a location for syntax errors, but the other checks run on
//! the deserialised structs, which have no spans. Walking the YAML event stream once,
//! with its markers, gives every key and sequence item a line number.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line numbers (1-based) of every node, keyed by its dotted path.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

impl LineIndex {
    pub fn build(source: &str) -> LineIndex {
        let mut walker = Walker::default();
        // A syntax error is reported by serde_norway with its own location; an incomplete
        // index only makes semantic errors fall back to their parent's line.
        let _ = Parser::new_from_str(source).load(&mut walker, false);
        LineIndex {
            lines: walker.lines,
        }
    }

    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut candidate = path;
        loop {
            if let Some(line) = self.lines.get(candidate) {
                return Some(*line);
            }
            let cut = candidate.rfind(['.', '['])?;
            candidate = &candidate[..cut];
        }
    }
}

enum Frame {
    /// Inside a mapping: the path of the mapping, and the key awaiting its value.
    Mapping {
        path: String,
        key: Option<String>,
    },
    Sequence {
        path: String,
        next_index: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

impl Walker {
    /// The path of the node that starts now, or `None` when the scalar is a mapping key.
    fn enter_node(&mut self, line: usize, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Sequence { path, next_index }) => {
                let child = format!("{path}[{next_index}]");
                *next_index += 1;
                self.lines.insert(child.clone(), line);
                Some(child)
            }
            Some(Frame::Mapping { path, key }) => match key.take() {
                Some(key) => Some(join(path, &key)),
                None => {
                    // This scalar is a key: remember where it is, wait for its value.
                    let name = scalar.unwrap_or_default().to_string();
                    self.lines.insert(join(path, &name), line);
                    *key = Some(name);
                    None
                }
            },
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::Scalar(value, ..) => {
                self.enter_node(line, Some(&value));
            }
            Event::Alias(_) => {
                self.enter_node(line, Some(""));
            }
            Event::MappingStart(..) => {
                let path = self.enter_node(line, Some("")).unwrap_or_default();
                self.stack.push(Frame::Mapping { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.enter_node(line, Some("")).unwrap_or_default();
                self.stack.push(Frame::Sequence {
                    path,
                    next_index: 0,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_get_their_own_lines() {
        let yaml = "name: x\nkey_questions:\n  - id: a\n    replies:\n      en:\n        - one\n        - two\n";
        let index = LineIndex::build(yaml);
        assert_eq!(index.line_of("name"), Some(1));
        assert_eq!(index.line_of("key_questions[0].id"), Some(3));
        assert_eq!(index.line_of("key_questions[0].replies.en[1]"), Some(7));
        // Unknown children fall back to the nearest known ancestor.
        assert_eq!(index.line_of("key_questions[0].replies.fr"), Some(4));
    }
}
