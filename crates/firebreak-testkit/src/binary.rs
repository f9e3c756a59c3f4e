//! Locating server binaries.

use std::path::{Path, PathBuf};

/// The command that runs the workspace's tests, quoted in "binary missing" errors.
const TEST_COMMAND_HINT: &str = "install the server (e.g. `apt-get install nats-server redis-server`) and run the tests as the README says: `cargo test --workspace`";

/// Finds `name` on `PATH`, then in the given fallback locations.
///
/// Distributions put `nats-server` in `/usr/sbin`, which is often missing from
/// a non-root `PATH`, hence the fallbacks.
pub(crate) fn find_binary(name: &str, fallbacks: &[&str]) -> anyhow::Result<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    let from_fallbacks = fallbacks.iter().map(PathBuf::from);
    from_path
        .chain(from_fallbacks)
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "`{name}` not found on PATH or in {fallbacks:?}; integration tests need a real {name}: {TEST_COMMAND_HINT}"
            )
        })
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
