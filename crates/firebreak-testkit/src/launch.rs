//! Start-up logic shared by the server harnesses: wait for readiness, detect
//! early exits, and retry when a free port was taken in the meantime.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::process::ChildProcess;

/// How long a server may take to become ready before start-up fails.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often readiness is probed.
const READY_POLL_INTERVAL: Duration = Duration::from_millis(25);

/// How many times start-up picks fresh ports after a port collision.
pub(crate) const PORT_ATTEMPTS: usize = 5;

/// Lines of server log quoted in start-up errors.
const LOG_TAIL_LINES: usize = 30;

/// Why a server did not become ready.
pub(crate) enum StartError {
    /// Another process bound the port between `free_port` and the server's
    /// own bind; the caller retries with fresh ports.
    AddressInUse,
    Failed(anyhow::Error),
}

/// Polls `probe` until it returns `true`, failing early if the process exits.
///
/// `probe` must also check that the thing answering is *this* process (for
/// instance by pid or server name): when a port collides, another test's
/// server may answer on it before this one has noticed and exited.
pub(crate) async fn wait_ready<F, Fut>(
    process: &mut ChildProcess,
    what: &str,
    mut probe: F,
) -> Result<(), StartError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process.try_exit_status().map_err(StartError::Failed)? {
            let tail = process.log_tail(LOG_TAIL_LINES);
            if tail.to_ascii_lowercase().contains("address already in use") {
                tracing::debug!(server = what, "port collision, retrying on fresh ports");
                return Err(StartError::AddressInUse);
            }
            return Err(StartError::Failed(anyhow::anyhow!(
                "{what} exited during start-up ({status}); log {}:\n{tail}",
                process.log_path().display()
            )));
        }
        if probe().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StartError::Failed(anyhow::anyhow!(
                "{what} not ready after {READY_TIMEOUT:?}; log {}:\n{}",
                process.log_path().display(),
                process.log_tail(LOG_TAIL_LINES)
            )));
        }
        tokio::time::sleep(READY_POLL_INTERVAL).await;
    }
}

/// Converts a failed restart (ports fixed, so no retry) into an error.
pub(crate) fn into_anyhow(error: StartError, what: &str) -> anyhow::Error {
    match error {
        StartError::AddressInUse => {
            anyhow::anyhow!("{what} could not restart: its port was taken by another process")
        }
        StartError::Failed(error) => error,
    }
}
