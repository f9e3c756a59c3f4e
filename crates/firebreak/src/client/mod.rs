//! Client mode: `firebreak cases …`, `firebreak watch`, `firebreak crisis …`,
//! `firebreak insights`, `firebreak playbook list|show|diff|upload|activate|rollback`
//! and `firebreak rehearse` talk to a running server over gRPC. `--server` and
//! `--token` (or FIREBREAK_SERVER and FIREBREAK_TOKEN) say where and as whom; the
//! server's gRPC or HTTP address both work (`endpoint`); `--json` prints
//! machine-readable output.

pub mod case_view;
pub mod cases;
pub mod crisis;
pub mod dlq;
pub mod endpoint;
pub mod insights;
pub mod playbooks;
pub mod rehearse;

use clap::Args;
use tonic::transport::Channel;

/// The options every client command shares.
#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// The server's address: its gRPC port, or its HTTP port (the gRPC one is then
    /// asked for).
    #[arg(
        long,
        env = "FIREBREAK_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,

    /// The bearer token (its role must allow the command).
    #[arg(long, env = "FIREBREAK_TOKEN", hide_env_values = true)]
    pub token: String,

    /// Print JSON instead of text (before or after the subcommand).
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        endpoint::connect(&self.server).await
    }

    /// A request carrying the token.
    pub fn request<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| anyhow::anyhow!("--token: not a valid header value"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// A failed call as the user should read it (the server's message, not tonic's debug).
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

/// Runs a client command on a small runtime; an error prints and exits 1.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    command: F,
) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
