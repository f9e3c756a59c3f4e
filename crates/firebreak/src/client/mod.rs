//! Client mode: `firebreak cases …`, `firebreak watch`, `firebreak crisis …`,
//! `firebreak insights` talk to a
//! running server over gRPC. `--server` and `--token` (or FIREBREAK_SERVER and
//! FIREBREAK_TOKEN) say where and as whom; `--json` prints machine-readable output.

pub mod case_view;
pub mod cases;
pub mod crisis;
pub mod dlq;
pub mod insights;

use clap::Args;
use tonic::transport::{Channel, Endpoint};

/// The options every client command shares.
#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// The server's gRPC address.
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
        let server = if self.server.contains("://") {
            self.server.clone()
        } else {
            format!("http://{}", self.server)
        };
        let endpoint = Endpoint::from_shared(server.clone())
            .map_err(|e| anyhow::anyhow!("--server {server:?}: {e}"))?
            .connect_timeout(std::time::Duration::from_secs(5));
        endpoint
            .connect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {server}: {e}"))
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
