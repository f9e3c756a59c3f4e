//! `firebreak run` options. Each reads its `FIREBREAK_*` environment variable; the
//! command line wins. `validate` runs before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum RoleName {
    All,
    Ingest,
    Classify,
    Reply,
    Escalation,
    Control,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Clone, Debug, Args)]
pub struct RunConfig {
    /// Address of the HTTP API, webhooks, health probes and metrics.
    #[arg(long, env = "FIREBREAK_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Address of the gRPC services (with health and reflection).
    #[arg(long, env = "FIREBREAK_GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,

    /// NATS server with JetStream, e.g. nats://nats:4222. Unset: an in-process bus
    /// (everything in one process, nothing survives a restart).
    #[arg(long, env = "FIREBREAK_NATS_URL")]
    pub nats_url: Option<String>,

    /// Redis server, e.g. redis://redis:6379. Unset: an in-memory store.
    #[arg(long, env = "FIREBREAK_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Roles this process runs, comma-separated: all, or any of ingest, classify,
    /// reply, escalation, control.
    #[arg(
        long,
        env = "FIREBREAK_ROLES",
        default_value = "all",
        value_delimiter = ','
    )]
    pub roles: Vec<RoleName>,

    /// Crisis playbook (YAML). Unset: the built-in default playbook (FR + EN).
    #[arg(long, env = "FIREBREAK_PLAYBOOK")]
    pub playbook: Option<PathBuf>,

    /// Tokens file: one `<role> <name> <sha256 hex of secret>` per line. Unset: one
    /// token per role is generated at start-up and printed once.
    #[arg(long, env = "FIREBREAK_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,

    /// Do not print the tokens generated without --tokens-file, only a warning without
    /// secrets (the container image sets this: its output goes to shipped logs).
    #[arg(long, env = "FIREBREAK_HIDE_GENERATED_TOKENS", default_value_t = false)]
    pub hide_generated_tokens: bool,

    /// Where replies go as JSON when no platform connector is configured. Unset: the
    /// dry-run connector records replies without sending them.
    #[arg(long, env = "FIREBREAK_OUTBOUND_WEBHOOK_URL")]
    pub outbound_webhook_url: Option<String>,

    /// Chat webhook (Slack-compatible JSON POST) told about surge alerts and SLA
    /// breaches. Unset: they are only logged and audited.
    #[arg(long, env = "FIREBREAK_NOTIFY_WEBHOOK_URL")]
    pub notify_webhook_url: Option<String>,

    /// Log format on stdout.
    #[arg(long, env = "FIREBREAK_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormatArg,

    /// OTLP/gRPC endpoint for traces, e.g. http://otel-collector:4317. Unset: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Seconds allowed for in-flight work to finish after SIGTERM. Unset: the longest a
    /// reply send can take (its retry budget plus one request timeout) plus 5 s.
    #[arg(long, env = "FIREBREAK_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,

    /// JetStream stream replicas (3 on a production cluster).
    #[arg(long, env = "FIREBREAK_NATS_REPLICAS", default_value_t = 1)]
    pub nats_replicas: usize,

    /// Hours what people wrote is kept with a case after it is resolved (then purged;
    /// ids, flags and the outcome stay). An admin can purge sooner:
    /// `DELETE /v1/cases/{id}/texts`.
    #[arg(
        long,
        env = "FIREBREAK_CASE_TEXT_RETENTION_HOURS",
        default_value_t = 168
    )]
    pub case_text_retention_hours: u64,

    /// Hours of inbound messages kept for `firebreak rehearse` (0: none). At most the
    /// case text retention: a text lives no longer in the archive than in a case.
    #[arg(long, env = "FIREBREAK_ARCHIVE_HOURS", default_value_t = 24)]
    pub archive_hours: u64,

    /// The most inbound messages the archive keeps; the oldest go first.
    #[arg(
        long,
        env = "FIREBREAK_ARCHIVE_MAX_MESSAGES",
        default_value_t = 100_000
    )]
    pub archive_max_messages: usize,

    #[command(flatten)]
    pub ingest: crate::ingest_args::IngestArgs,

    #[command(flatten)]
    pub server: crate::server_args::ServerArgs,

    #[command(flatten)]
    pub reply: crate::reply_args::ReplyArgs,
}

impl RunConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.nats_url
            && !(url.starts_with("nats://") || url.starts_with("tls://") || url.contains(':'))
        {
            return Err(format!(
                "--nats-url {}: expected nats://host:port",
                redact_url(url)
            ));
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            return Err(format!(
                "--redis-url {}: expected redis://host:port",
                redact_url(url)
            ));
        }
        // Webhook URLs often carry their secret in the path: never echoed.
        if let Some(url) = &self.outbound_webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err("--outbound-webhook-url: expected an http(s) URL".into());
        }
        if let Some(url) = &self.notify_webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err("--notify-webhook-url: expected an http(s) URL".into());
        }
        for (flag, path) in [
            ("--playbook", &self.playbook),
            ("--tokens-file", &self.tokens_file),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(format!("{flag} {}: no such file", path.display()));
            }
        }
        // An invalid playbook must stop start-up with the field and line at fault,
        // before anything connects.
        if let Some(path) = &self.playbook {
            firebreak_triage::check_playbook_file(path)
                .map_err(|e| format!("--playbook {}: {e}", path.display()))?;
        }
        if self
            .shutdown_grace_secs
            .is_some_and(|secs| secs == 0 || secs > 300)
        {
            return Err("--shutdown-grace-secs must be between 1 and 300".into());
        }
        if !(1..=720).contains(&self.case_text_retention_hours) {
            return Err(
                "--case-text-retention-hours must be between 1 and 720 (the case's own 30 days)"
                    .into(),
            );
        }
        if self.archive_hours > self.case_text_retention_hours {
            return Err(format!(
                "--archive-hours ({}) must not exceed --case-text-retention-hours ({}): \
                 archived texts follow the case texts' retention",
                self.archive_hours, self.case_text_retention_hours
            ));
        }
        if self.archive_hours > 0 && !(1..=1_000_000).contains(&self.archive_max_messages) {
            return Err("--archive-max-messages must be between 1 and 1000000".into());
        }
        if !(1..=5).contains(&self.nats_replicas) {
            return Err("--nats-replicas must be between 1 and 5".into());
        }
        self.server.validate()?;
        self.ingest.webhook_secrets().map_err(|e| e.to_string())?;
        self.reply
            .connectors(self.outbound_webhook_url.as_deref())
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    pub fn runs(&self, role: RoleName) -> bool {
        self.roles.contains(&RoleName::All) || self.roles.contains(&role)
    }

    /// This process in traces: `firebreak-all`, `firebreak-ingest`,
    /// `firebreak-classify+reply`...
    pub fn service_name(&self) -> String {
        let roles: Vec<String> = self
            .roles
            .iter()
            .filter_map(|r| r.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        format!("firebreak-{}", roles.join("+"))
    }

    pub fn case_text_retention(&self) -> Duration {
        Duration::from_secs(self.case_text_retention_hours * 3600)
    }

    /// The inbound archive's bounds, or `None` when it is off.
    pub fn archive_limits(&self) -> Option<firebreak_store::archive::ArchiveLimits> {
        (self.archive_hours > 0).then(|| firebreak_store::archive::ArchiveLimits {
            window: Duration::from_secs(self.archive_hours * 3600),
            max_messages: self.archive_max_messages,
        })
    }

    /// How long in-flight work may finish after SIGTERM. By default longer than the
    /// longest reply send, so a rollout never cuts a send short (which would turn it
    /// into an "outcome unknown" escalation on redelivery).
    pub fn shutdown_grace(&self) -> Duration {
        match self.shutdown_grace_secs {
            Some(secs) => Duration::from_secs(secs),
            None => self.longest_send() + SETTLE_MARGIN,
        }
    }

    /// The longest a reply send can take with these settings.
    pub fn longest_send(&self) -> Duration {
        self.reply
            .reply_config()
            .longest_send(firebreak_connectors::HttpOptions::default().request_timeout)
    }

    /// Set when an explicit grace is shorter than a send: said once at start-up.
    pub fn shutdown_grace_warning(&self) -> Option<String> {
        let grace = self.shutdown_grace();
        (self.runs(RoleName::Reply) && grace < self.longest_send()).then(|| {
            format!(
                "--shutdown-grace-secs {} is shorter than the longest reply send ({} s): \
                 a rollout can cut sends short; unset it to derive it",
                grace.as_secs(),
                self.longest_send().as_secs()
            )
        })
    }
}

/// Time after the longest send to record its outcome and ack it.
const SETTLE_MARGIN: Duration = Duration::from_secs(5);

/// `url` with any user name, password and query replaced by `***`, for messages: a
/// NATS or Redis URL may carry credentials.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let path = match tail.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => tail.to_string(),
    };
    format!("{scheme}{host}{path}")
}

#[derive(Debug, Parser)]
struct RunOnly {
    #[command(flatten)]
    run: RunConfig,
}

impl RunConfig {
    /// Parses `firebreak run` options from `args` (and the environment), as the command
    /// line would. Tests build their configuration this way.
    pub fn from_args<I: IntoIterator<Item = S>, S: Into<std::ffi::OsString> + Clone>(
        args: I,
    ) -> Result<Self, clap::Error> {
        let argv = std::iter::once(std::ffi::OsString::from("firebreak"))
            .chain(args.into_iter().map(Into::into));
        RunOnly::try_parse_from(argv).map(|r| r.run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_keeps_texts_no_longer_than_cases_do() {
        let longer =
            RunConfig::from_args(["--archive-hours", "48", "--case-text-retention-hours", "24"])
                .unwrap();
        let err = longer.validate().unwrap_err();
        assert!(err.contains("--archive-hours"), "{err}");
        let off = RunConfig::from_args(["--archive-hours", "0"]).unwrap();
        assert_eq!(off.archive_limits(), None);
        let default = RunConfig::from_args(Vec::<String>::new()).unwrap();
        assert_eq!(
            default.archive_limits().map(|l| l.window),
            Some(Duration::from_secs(24 * 3600))
        );
    }

    #[test]
    fn the_default_shutdown_grace_outlasts_the_longest_reply_send() {
        let config = RunConfig::from_args(std::iter::empty::<&str>()).unwrap();
        // 30 s ack wait: a 10 s retry budget plus a 15 s request, then 5 s to settle.
        assert_eq!(config.longest_send(), Duration::from_secs(25));
        assert_eq!(config.shutdown_grace(), Duration::from_secs(30));
        assert_eq!(config.shutdown_grace_warning(), None);

        let longer = RunConfig::from_args(["--reply-ack-wait-secs", "60"]).unwrap();
        assert!(longer.shutdown_grace() > longer.longest_send());
        assert!(
            longer.shutdown_grace() > config.shutdown_grace(),
            "follows the sends"
        );
    }

    #[test]
    fn an_explicit_grace_shorter_than_a_send_is_kept_but_warned_about() {
        let short = RunConfig::from_args(["--shutdown-grace-secs", "8"]).unwrap();
        assert_eq!(short.shutdown_grace(), Duration::from_secs(8));
        assert!(short.shutdown_grace_warning().is_some());
        // A role that sends nothing has no send to cut short.
        let ingest =
            RunConfig::from_args(["--shutdown-grace-secs", "8", "--roles", "ingest"]).unwrap();
        assert_eq!(ingest.shutdown_grace_warning(), None);
    }

    #[test]
    fn urls_in_errors_lose_their_credentials() {
        assert_eq!(
            redact_url("redis://user:hunter2@redis:6379/0"),
            "redis://***@redis:6379/0"
        );
        assert_eq!(redact_url("nats://tok3n@nats:4222"), "nats://***@nats:4222");
        assert_eq!(
            redact_url("rediss://redis:6379?password=hunter2"),
            "rediss://redis:6379?***"
        );
        assert_eq!(redact_url("nats://nats:4222"), "nats://nats:4222");
        let config = RunConfig::from_args(["--redis-url", "http://u:hunter2@redis:6379"]).unwrap();
        let err = config.validate().unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let config =
            RunConfig::from_args(["--nats-url", "hunter2-secret-no-scheme-or-port"]).unwrap();
        let err = config.validate().unwrap_err();
        assert!(err.contains("--nats-url"), "{err}");
    }
}
