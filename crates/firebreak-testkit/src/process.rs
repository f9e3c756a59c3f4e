//! A child-process guard shared by the server harnesses.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// How long [`ChildProcess::terminate`] waits after SIGTERM before SIGKILL.
const GRACEFUL_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `Drop` blocks waiting for a killed child, so the temp dir holding
/// its data is not removed while the process still writes to it.
const DROP_REAP_TIMEOUT: Duration = Duration::from_secs(2);

/// A spawned server process that is killed when dropped.
///
/// stdout and stderr go to a log file (appended, so restarts keep earlier
/// output) instead of the test's terminal; [`ChildProcess::log_tail`] reads it
/// back for error messages.
pub struct ChildProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl ChildProcess {
    /// Spawns `program` with `args`, sending its output to `log_path`.
    pub fn spawn(program: &Path, args: &[OsString], log_path: &Path) -> anyhow::Result<Self> {
        Self::spawn_with_env(program, args, &[], log_path)
    }

    /// [`ChildProcess::spawn`] with extra environment variables for the child only.
    pub fn spawn_with_env(
        program: &Path,
        args: &[OsString],
        env: &[(&str, &str)],
        log_path: &Path,
    ) -> anyhow::Result<Self> {
        let name = program
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.display().to_string());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("opening log file {}", log_path.display()))?;
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            // Backstop for paths that forget the guard, e.g. a panicking test.
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", program.display()))?;
        tracing::debug!(server = %name, pid = ?child.id(), "spawned test server");
        Ok(Self {
            name,
            child,
            log_path: log_path.to_path_buf(),
        })
    }

    /// The OS process id, or `None` once the process has been reaped.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The file the process's stdout and stderr are written to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Returns the exit status if the process has already exited.
    pub fn try_exit_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Sends SIGTERM and waits for a clean exit; SIGKILLs after a grace period.
    pub async fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        if let Some(pid) = self.child.id() {
            // `libc::kill` would need `unsafe`, which the workspace denies; the
            // `kill` utility sends the same signal.
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .context("running `kill -TERM`")?;
            if !sent.success() {
                tracing::warn!(server = %self.name, pid, "kill -TERM failed");
            }
        }
        match tokio::time::timeout(GRACEFUL_STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_elapsed) => {
                tracing::warn!(server = %self.name, "no exit after sigterm, killing");
                self.kill().await
            }
        }
    }

    /// Sends SIGKILL and waits for the process to be reaped (a simulated crash).
    pub async fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // `start_kill` sends SIGKILL on Unix.
        self.child.start_kill()?;
        Ok(self.child.wait().await?)
    }

    /// The last `max_lines` lines of the process's log, for error messages.
    pub fn log_tail(&self, max_lines: usize) -> String {
        log_tail(&self.log_path, max_lines)
    }
}

/// The last `max_lines` lines of `path`, or a note saying it could not be read.
pub(crate) fn log_tail(path: &Path, max_lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(max_lines)..].join("\n")
        }
        Err(error) => format!("<cannot read {}: {error}>", path.display()),
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = self.child.start_kill();
        // Drop cannot await; reap with a short blocking poll so the caller's
        // temp dir removal does not race a process that is still exiting.
        let deadline = Instant::now() + DROP_REAP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What `NatsServer` and `RedisServer` share: acting on their current process, if any.
pub(crate) mod slot {
    use super::ChildProcess;

    /// Whether the process is running (not stopped, killed or crashed).
    pub(crate) fn is_running(process: &mut Option<ChildProcess>) -> bool {
        process
            .as_mut()
            .is_some_and(|process| matches!(process.try_exit_status(), Ok(None)))
    }

    /// SIGTERM, then wait for the exit.
    pub(crate) async fn stop(process: &mut Option<ChildProcess>) -> anyhow::Result<()> {
        if let Some(process) = process.as_mut() {
            process.terminate().await?;
        }
        Ok(())
    }

    /// SIGKILL, simulating a crash.
    pub(crate) async fn kill(process: &mut Option<ChildProcess>) -> anyhow::Result<()> {
        if let Some(process) = process.as_mut() {
            process.kill().await?;
        }
        Ok(())
    }
}
