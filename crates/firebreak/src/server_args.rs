//! `firebreak run` options for the servers themselves: HTTP timeouts and connection cap,
//! gRPC deadline and concurrency. The defaults suit production; tests shorten them.

use std::time::Duration;

use clap::Args;
use firebreak_server::grpc::GrpcLimits;
use firebreak_server::http::HttpLimits;

#[derive(Clone, Debug, Args)]
pub struct ServerArgs {
    /// Seconds a client has to send a request's headers (and the longest an idle
    /// keep-alive connection is kept between requests).
    #[arg(long, env = "FIREBREAK_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_timeout_secs: u64,

    /// Seconds a client has to send a whole request body once its headers are in;
    /// then 408.
    #[arg(long, env = "FIREBREAK_HTTP_BODY_TIMEOUT_SECS", default_value_t = 10)]
    pub http_body_timeout_secs: u64,

    /// Seconds an HTTP connection may go without a byte moving either way.
    #[arg(long, env = "FIREBREAK_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub http_idle_timeout_secs: u64,

    /// HTTP connections served at once; further ones wait in the listen backlog.
    #[arg(long, env = "FIREBREAK_HTTP_MAX_CONNECTIONS", default_value_t = 4096)]
    pub http_max_connections: usize,

    /// Seconds a gRPC call may take (a stream: to open); a shorter client deadline wins.
    #[arg(long, env = "FIREBREAK_GRPC_TIMEOUT_SECS", default_value_t = 30)]
    pub grpc_timeout_secs: u64,

    /// gRPC calls served at once per connection.
    #[arg(
        long,
        env = "FIREBREAK_GRPC_CONCURRENCY_PER_CONNECTION",
        default_value_t = 64
    )]
    pub grpc_concurrency_per_connection: usize,
}

impl ServerArgs {
    pub fn validate(&self) -> Result<(), String> {
        for (flag, secs) in [
            ("--http-header-timeout-secs", self.http_header_timeout_secs),
            ("--http-body-timeout-secs", self.http_body_timeout_secs),
            ("--http-idle-timeout-secs", self.http_idle_timeout_secs),
            ("--grpc-timeout-secs", self.grpc_timeout_secs),
        ] {
            if !(1..=3_600).contains(&secs) {
                return Err(format!("{flag} must be between 1 and 3600"));
            }
        }
        if self.http_max_connections == 0 || self.grpc_concurrency_per_connection == 0 {
            return Err(
                "--http-max-connections and --grpc-concurrency-per-connection must be positive"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn http(&self) -> HttpLimits {
        HttpLimits {
            header_read: Duration::from_secs(self.http_header_timeout_secs),
            body_read: Duration::from_secs(self.http_body_timeout_secs),
            idle: Duration::from_secs(self.http_idle_timeout_secs),
            max_connections: self.http_max_connections,
        }
    }

    pub fn grpc(&self) -> GrpcLimits {
        GrpcLimits {
            timeout: Duration::from_secs(self.grpc_timeout_secs),
            concurrency_per_connection: self.grpc_concurrency_per_connection,
            ..GrpcLimits::default()
        }
    }
}
