//! Bearer tokens with roles. A tokens file holds `<role> <name> <sha256 hex of secret>`
//! per line; only the hash is ever stored, and comparison is constant-time.

use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

use firebreak_core::{ErrorCode, FirebreakError};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Crisis,
    Moderator,
    Ingest,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Crisis,
        Role::Moderator,
        Role::Ingest,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Crisis => "crisis",
            Role::Moderator => "moderator",
            Role::Ingest => "ingest",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a token of this role may do what `required` guards. Admin may do
    /// everything; crisis teams and moderators may also read; ingest may only submit.
    pub fn grants(self, required: Role) -> bool {
        self == required
            || self == Role::Admin
            || (required == Role::Viewer && matches!(self, Role::Crisis | Role::Moderator))
    }
}

/// Whether a token of `role` may read the audit entries about cases (their reasons are
/// moderators' notes): moderators and admins only. A crisis or viewer token asking for
/// `case.` entries by prefix is refused; in any other listing they are left out.
pub fn case_audit_access(role: Role, action_prefix: &str) -> Result<bool, FirebreakError> {
    let allowed = role.grants(Role::Moderator);
    if !allowed && action_prefix.starts_with("case") {
        return Err(FirebreakError::new(
            ErrorCode::PermissionDenied,
            format!("role {role} may not read the case audit; it needs moderator"),
        ));
    }
    Ok(allowed)
}

/// True for audit entries about cases.
pub fn is_case_action(action: &str) -> bool {
    action.starts_with("case.")
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request, as proven by their token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

struct Entry {
    role: Role,
    name: String,
    hash: [u8; 32],
}

/// The known tokens. Debug never shows hashes. The set can be swapped while the server
/// runs ([`Tokens::replace`]), so a tokens file is reloaded without a restart.
#[derive(Default)]
pub struct Tokens {
    entries: RwLock<Arc<Vec<Entry>>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.read().len())
            .finish()
    }
}

/// Token names that appeared and disappeared in a reload (names only, never hashes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokensChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl TokensChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("tokens file line {line}: {message}")]
pub struct TokensFileError {
    pub line: usize,
    pub message: String,
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh random secret (256 bits, hex).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("fb_{}", hex::encode(bytes))
}

/// The tokens-file line for a secret.
pub fn tokens_file_line(role: Role, name: &str, secret: &str) -> String {
    format!("{} {} {}", role, name, hex::encode(hash(secret)))
}

impl Tokens {
    pub fn parse(text: &str) -> Result<Self, TokensFileError> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let fields: Vec<&str> = content.split_whitespace().collect();
            let err = |message: String| TokensFileError { line, message };
            let [role, name, digest] = fields[..] else {
                return Err(err("expected `<role> <name> <sha256 hex>`".into()));
            };
            // The field is not quoted: a line written in the wrong order could start
            // with a secret.
            let role =
                Role::parse(role).ok_or_else(|| {
                    err("unknown role in the first field (admin, crisis, moderator, ingest, viewer)"
                    .into())
                })?;
            let bytes = hex::decode(digest).map_err(|_| err("hash is not hex".into()))?;
            let hash: [u8; 32] = bytes
                .try_into()
                .map_err(|_| err("hash must be 64 hex characters (sha256)".into()))?;
            entries.push(Entry {
                role,
                name: name.to_string(),
                hash,
            });
        }
        Ok(Tokens::from_entries(entries))
    }

    fn from_entries(entries: Vec<Entry>) -> Self {
        Tokens {
            entries: RwLock::new(Arc::new(entries)),
        }
    }

    /// Number of tokens known.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Swaps in `next`'s tokens at once: requests from now on are checked against
    /// them. Returns which `role/name` pairs came and went (a rotated hash under the
    /// same name counts as removed and added).
    pub fn replace(&self, next: Tokens) -> TokensChange {
        let next = next.entries.into_inner();
        let key = |e: &Entry| (format!("{}/{}", e.role, e.name), e.hash);
        let before: Vec<_> = self.entries.read().iter().map(key).collect();
        let after: Vec<_> = next.iter().map(key).collect();
        let mut change = TokensChange {
            added: after
                .iter()
                .filter(|k| !before.contains(k))
                .map(|k| k.0.clone())
                .collect(),
            removed: before
                .iter()
                .filter(|k| !after.contains(k))
                .map(|k| k.0.clone())
                .collect(),
        };
        change.added.sort();
        change.removed.sort();
        *self.entries.write() = next;
        change
    }

    /// One fresh token per role, for the embedded default. Returns the secrets so the
    /// caller can print them once.
    pub fn generate() -> (Self, Vec<(Role, String)>) {
        let mut entries = Vec::new();
        let mut secrets = Vec::new();
        for role in Role::ALL {
            let secret = new_secret();
            entries.push(Entry {
                role,
                name: format!("generated-{role}"),
                hash: hash(&secret),
            });
            secrets.push((role, secret));
        }
        (Tokens::from_entries(entries), secrets)
    }

    /// Finds the token's owner. Every entry is compared, in constant time, so timing
    /// reveals neither which entry matched nor how much of a hash did.
    pub fn authenticate(&self, secret: &str) -> Option<Principal> {
        let presented = hash(secret);
        let mut found = None;
        let entries = self.entries.read().clone();
        for entry in entries.iter() {
            if bool::from(entry.hash.ct_eq(&presented)) && found.is_none() {
                found = Some(Principal {
                    name: entry.name.clone(),
                    role: entry.role,
                });
            }
        }
        found
    }

    /// Checks an `Authorization` header value against the role an action needs.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        required: Role,
    ) -> Result<Principal, FirebreakError> {
        let secret = authorization
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                FirebreakError::new(ErrorCode::Unauthenticated, "missing bearer token")
            })?;
        let principal = self
            .authenticate(secret)
            .ok_or_else(|| FirebreakError::new(ErrorCode::Unauthenticated, "invalid token"))?;
        if !principal.role.grants(required) {
            return Err(FirebreakError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "role {} may not do this; it needs {required}",
                    principal.role
                ),
            ));
        }
        Ok(principal)
    }
}

/// Counts a refused token under `firebreak_auth_rejected_total` (401 or 403).
pub fn count_refusal(
    metrics: &firebreak_telemetry::Metrics,
    transport: &'static str,
    e: &FirebreakError,
) {
    metrics.auth_rejected(transport, e.code == ErrorCode::PermissionDenied);
}

/// The tokens file without the lines of token `name` (comments and other lines kept),
/// and how many lines went. For `firebreak token revoke`.
pub fn revoke_lines(text: &str, name: &str) -> (String, usize) {
    let mut kept = String::with_capacity(text.len());
    let mut removed = 0;
    for line in text.lines() {
        let content = line.split('#').next().unwrap_or("");
        if content.split_whitespace().nth(1) == Some(name) {
            removed += 1;
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    (kept, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_from_a_file_line_authenticates_with_its_role() {
        let secret = new_secret();
        let file = format!(
            "# crisis team\n{}\n",
            tokens_file_line(Role::Crisis, "alice", &secret)
        );
        let tokens = Tokens::parse(&file).unwrap();
        let who = tokens
            .authorize(Some(&format!("Bearer {secret}")), Role::Crisis)
            .unwrap();
        assert_eq!(
            who,
            Principal {
                name: "alice".into(),
                role: Role::Crisis
            }
        );
    }

    #[test]
    fn missing_bad_and_wrong_role_tokens_are_refused_distinctly() {
        let (tokens, secrets) = Tokens::generate();
        let moderator = &secrets
            .iter()
            .find(|(r, _)| *r == Role::Moderator)
            .unwrap()
            .1;
        assert_eq!(
            tokens.authorize(None, Role::Crisis).unwrap_err().code,
            ErrorCode::Unauthenticated
        );
        assert_eq!(
            tokens
                .authorize(Some("Bearer nope"), Role::Crisis)
                .unwrap_err()
                .code,
            ErrorCode::Unauthenticated
        );
        assert_eq!(
            tokens
                .authorize(Some(&format!("Bearer {moderator}")), Role::Crisis)
                .unwrap_err()
                .code,
            ErrorCode::PermissionDenied
        );
        assert!(
            tokens
                .authorize(Some(&format!("Bearer {moderator}")), Role::Viewer)
                .is_ok()
        );
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let err = Tokens::parse("admin root\n").unwrap_err();
        assert_eq!(err.line, 1);
        let err = Tokens::parse("\nwizard x 00\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unknown role"));
        let err = Tokens::parse("fb_0123secret admin 00\n").unwrap_err();
        assert!(!err.to_string().contains("fb_0123secret"), "{err}");
    }

    #[test]
    fn a_replaced_set_authenticates_new_tokens_and_refuses_revoked_ones() {
        let (old_secret, new_secret_value) = (new_secret(), new_secret());
        let tokens = Tokens::parse(&tokens_file_line(Role::Moderator, "bob", &old_secret)).unwrap();
        let next = format!(
            "{}\n",
            tokens_file_line(Role::Moderator, "carol", &new_secret_value)
        );
        let change = tokens.replace(Tokens::parse(&next).unwrap());
        assert_eq!(change.added, ["moderator/carol"]);
        assert_eq!(change.removed, ["moderator/bob"]);
        assert!(tokens.authenticate(&old_secret).is_none());
        assert_eq!(
            tokens.authenticate(&new_secret_value).unwrap().name,
            "carol"
        );
    }

    #[test]
    fn revoking_removes_only_that_names_lines() {
        let text = format!(
            "# team\n{}\n{}\n",
            tokens_file_line(Role::Moderator, "bob", "a"),
            tokens_file_line(Role::Crisis, "bobby", "b")
        );
        let (kept, removed) = revoke_lines(&text, "bob");
        assert_eq!(removed, 1);
        assert!(kept.contains("# team") && kept.contains("bobby"));
        assert!(Tokens::parse(&kept).unwrap().len() == 1);
    }
}
