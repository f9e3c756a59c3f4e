//! Platform secrets, kept out of logs by construction.
//!
//! A secret comes from `NAME` or from the file named by `NAME_FILE` (a mounted Kubernetes
//! secret). This module never reads the environment itself: callers pass a lookup
//! closure, so tests inject values without touching process state.

use std::fmt;
use std::path::Path;

use subtle::ConstantTimeEq;

/// A secret value. `Debug` and `Display` print `***`, so a secret inside a config struct
/// can be logged with that struct without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for computing an HMAC or sending a token. Keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented value in time independent of where they differ.
    /// A length mismatch returns early; the length of a token is not the secret part.
    pub fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("both {name} and {name}_FILE are set; set only one")]
    Ambiguous { name: String },
    #[error("{name}_FILE names a file that cannot be read: {reason}")]
    Unreadable { name: String, reason: String },
    #[error("{name} is set but empty")]
    Empty { name: String },
}

/// Loads secret `name` from `lookup(name)` or, failing that, from the file whose path is
/// `lookup("{name}_FILE")`. Returns `Ok(None)` when neither is set, so the caller decides
/// whether the secret is required.
///
/// One trailing newline is stripped from a file, since editors and `kubectl create
/// secret --from-file` often leave one; any other whitespace is kept as part of the value.
pub fn load_secret(
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, SecretError> {
    load_secret_with(name, lookup, |path| std::fs::read_to_string(path))
}

/// Like [`load_secret`], with the file read injected too, for tests.
pub fn load_secret_with(
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
    read_file: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Option<Secret>, SecretError> {
    let file_var = format!("{name}_FILE");
    let direct = lookup(name).filter(|v| !v.is_empty());
    let from_file = lookup(&file_var).filter(|v| !v.is_empty());
    let value = match (direct, from_file) {
        (Some(_), Some(_)) => {
            return Err(SecretError::Ambiguous {
                name: name.to_owned(),
            });
        }
        (Some(value), None) => value,
        (None, Some(path)) => {
            let mut contents =
                read_file(Path::new(&path)).map_err(|e| SecretError::Unreadable {
                    name: name.to_owned(),
                    // The io error names the kind only, never the contents.
                    reason: e.kind().to_string(),
                })?;
            if contents.ends_with('\n') {
                contents.pop();
                if contents.ends_with('\r') {
                    contents.pop();
                }
            }
            if contents.is_empty() {
                return Err(SecretError::Empty {
                    name: file_var.clone(),
                });
            }
            contents
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(Secret(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
    }

    #[test]
    fn loads_from_the_variable() {
        let s = load_secret("FB_X", env(&[("FB_X", "abc")]))
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "abc");
    }

    #[test]
    fn loads_from_the_file_and_strips_one_newline() {
        let s = load_secret_with("FB_X", env(&[("FB_X_FILE", "/run/secrets/x")]), |p| {
            assert_eq!(p, Path::new("/run/secrets/x"));
            Ok("abc\n".into())
        })
        .unwrap()
        .unwrap();
        assert_eq!(s.expose(), "abc");
    }

    #[test]
    fn unset_is_none_and_both_set_is_an_error() {
        assert_eq!(load_secret("FB_X", env(&[])).unwrap(), None);
        assert!(matches!(
            load_secret("FB_X", env(&[("FB_X", "a"), ("FB_X_FILE", "/f")])),
            Err(SecretError::Ambiguous { .. })
        ));
    }

    #[test]
    fn unreadable_file_is_an_error_naming_the_variable() {
        let err = load_secret_with("FB_X", env(&[("FB_X_FILE", "/nope")]), |_| {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        })
        .unwrap_err();
        assert!(err.to_string().contains("FB_X_FILE"));
    }

    #[test]
    fn matches_compares_exactly() {
        let s = Secret::new("tok_123");
        assert!(s.matches(b"tok_123"));
        assert!(!s.matches(b"tok_124"));
        assert!(!s.matches(b"tok_12"));
        assert!(!s.matches(b""));
    }
}
