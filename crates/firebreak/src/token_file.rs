//! `firebreak token revoke`: edits a tokens file in place. The running servers notice
//! the change (they poll the file) and refuse the token within seconds.

use std::path::Path;
use std::process::ExitCode;

use firebreak_server::auth::{Tokens, revoke_lines};

/// sysexits' EX_USAGE and EX_DATAERR.
const EXIT_USAGE: u8 = 64;
const EXIT_DATA: u8 = 65;

pub fn revoke(path: &Path, name: &str) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: --tokens-file {}: {e}", path.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (kept, removed) = revoke_lines(&text, name);
    if removed == 0 {
        eprintln!(
            "error: no token named {name:?} in {}; nothing changed",
            path.display()
        );
        return ExitCode::from(EXIT_DATA);
    }
    // The servers refuse an empty file (it would lock everyone out) and keep the old
    // tokens: say so instead of leaving the revoked token silently in force.
    match Tokens::parse(&kept) {
        Ok(tokens) if tokens.is_empty() => {
            eprintln!(
                "error: {name:?} is the last token in {}; the servers would keep it. Add another token first",
                path.display()
            );
            return ExitCode::from(EXIT_DATA);
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("error: {} is not a valid tokens file: {e}", path.display());
            return ExitCode::from(EXIT_DATA);
        }
    }
    if let Err(e) = write_atomically(path, &kept) {
        eprintln!("error: writing {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    crate::outln!(
        "revoked {name}: {removed} line(s) removed from {}; running servers refuse it within seconds",
        path.display()
    );
    ExitCode::SUCCESS
}

/// Writes beside the file and renames over it, so a server polling the file never reads
/// it half-written.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let tmp = dir
        .unwrap_or_else(|| Path::new("."))
        .join(format!(".tokens-{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path)
}
