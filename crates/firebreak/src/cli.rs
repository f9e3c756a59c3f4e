//! The command line: `firebreak run`, `firebreak token new`, and the tools for crisis
//! teams. A bad configuration exits with code 64 and a message naming the option.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use firebreak_server::auth::{Role, new_secret, tokens_file_line};
use tokio_util::sync::CancellationToken;

use crate::config::{LogFormatArg, RunConfig};

/// sysexits' EX_USAGE: the command or its configuration is wrong.
const EXIT_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "firebreak",
    version,
    about = "Crisis-response autoresponder: answers the common questions, escalates the sensitive ones"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server with the given roles (all in one process by default).
    Run(Box<RunConfig>),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Moderation cases on a running server (role moderator; `list` for any reading
    /// role, without texts).
    Cases {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::cases::CasesCommand,
    },
    /// Follow escalations live (role moderator): open cases P1 first, then every change.
    Watch {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        /// Resume after this cursor (0: the open cases first).
        #[arg(long, default_value_t = 0)]
        cursor: u64,
    },
    /// What the brand is being told (role viewer or above): volume, negative share,
    /// top themes and near-miss key questions, overall and per channel.
    Insights {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        /// Only this channel (`all` for every channel together).
        #[arg(long)]
        channel: Option<String>,
    },
    /// The dead-letter stream on a running server (role admin): list, show, replay.
    Dlq {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::dlq::DlqCommand,
    },
    /// Crisis mode on a running server: on, off (role crisis) and status.
    #[command(subcommand)]
    Crisis(crate::client::crisis::CrisisCommand),
    /// Playbooks: `check` a file locally; list, show, diff, upload, activate and roll
    /// back on a running server.
    #[command(subcommand)]
    Playbook(crate::tools::PlaybookCommand),
    /// Replay recent traffic (or recorded messages) through a draft playbook beside the
    /// active one on a running server, sending nothing (role crisis).
    Rehearse(crate::client::rehearse::RehearseArgs),
    /// Classify one text locally, as the server would (no server needed), with the
    /// reply each variant would be.
    Classify {
        text: String,
        /// Treat it as a private message (default: public).
        #[arg(long)]
        private: bool,
        /// The author's handle the replies are rendered for, e.g. @jane.
        #[arg(long)]
        author: Option<String>,
        /// The author's display name (`{{ first_name }}`).
        #[arg(long)]
        author_name: Option<String>,
        /// Classify as if crisis mode were on.
        #[arg(long)]
        crisis: bool,
        /// Playbook file (default: the built-in one).
        #[arg(long)]
        playbook: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate triage: held-out precision and recall per risk kind and language, key
    /// questions on paraphrases and look-alikes, false P1, sentiment; the labelled corpus;
    /// with --datasets, Bitext, Banking77 and the hostility model's held-out split.
    Eval {
        #[arg(long)]
        playbook: Option<std::path::PathBuf>,
        /// Corpus CSV (default: the committed corpus).
        #[arg(long)]
        corpus: Option<std::path::PathBuf>,
        /// Data-sets directory for the hostility model's held-out evaluation.
        #[arg(long)]
        datasets: Option<std::path::PathBuf>,
    },
    /// Train the hostility model from the data sets (DATASETS), or with --semantic the
    /// risk and sentiment heads from the committed training split (and, given DATASETS,
    /// the training half of the openly licensed third-party suites), and write it.
    Train {
        datasets: Option<std::path::PathBuf>,
        /// Train the semantic heads (models/semantic.json) instead.
        #[arg(long)]
        semantic: bool,
        /// Output file (default: hostility.bin, or semantic.json with --semantic).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a fresh secret and the tokens-file line that grants it a role.
    New {
        /// admin, crisis, moderator, ingest or viewer.
        #[arg(long)]
        role: String,
        /// Who holds the token; shown as the actor in the audit.
        #[arg(long)]
        name: String,
    },
    /// Remove every token of NAME from a tokens file. Running servers reload the file
    /// within seconds, refuse the token from then on and audit the change
    /// (`tokens.reload`); no restart.
    Revoke {
        /// The tokens file to edit (the one the servers read).
        #[arg(long, env = "FIREBREAK_TOKENS_FILE")]
        tokens_file: std::path::PathBuf,
        /// The token's name (second field of its line).
        #[arg(long)]
        name: String,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run(config) => run(*config),
        Command::Token(TokenCommand::New { role, name }) => token_new(&role, &name),
        Command::Token(TokenCommand::Revoke { tokens_file, name }) => {
            crate::token_file::revoke(&tokens_file, &name)
        }
        Command::Cases { client, command } => {
            crate::client::block_on(crate::client::cases::run(&client, command))
        }
        Command::Watch { client, cursor } => {
            crate::client::block_on(crate::client::cases::watch(&client, cursor))
        }
        Command::Dlq { client, command } => {
            crate::client::block_on(crate::client::dlq::run(&client, command))
        }
        Command::Crisis(command) => crate::client::block_on(crate::client::crisis::run(command)),
        Command::Insights { client, channel } => {
            crate::client::block_on(crate::client::insights::run(&client, channel.as_deref()))
        }
        Command::Playbook(command) => crate::tools::playbook(command),
        Command::Rehearse(args) => rehearse(args),
        Command::Classify {
            text,
            private,
            author,
            author_name,
            crisis,
            playbook,
            json,
        } => crate::tools::classify(
            &text,
            private,
            crisis,
            playbook.as_deref(),
            json,
            &crate::tools::PreviewAuthor {
                handle: author,
                name: author_name,
            },
        ),
        Command::Eval {
            playbook,
            corpus,
            datasets,
        } => crate::tools::eval(playbook.as_deref(), corpus.as_deref(), datasets.as_deref()),
        Command::Train {
            semantic: true,
            out,
            datasets,
        } => crate::tools::train_semantic(
            &out.unwrap_or_else(|| "semantic.json".into()),
            datasets.as_deref(),
        ),
        Command::Train {
            datasets: Some(datasets),
            out,
            ..
        } => crate::tools::train(&datasets, &out.unwrap_or_else(|| "hostility.bin".into())),
        Command::Train { datasets: None, .. } => {
            eprintln!("error: train needs a DATASETS directory, or --semantic");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// Exit code 2 when the draft would answer a sensitive message automatically.
fn rehearse(args: crate::client::rehearse::RehearseArgs) -> ExitCode {
    let mut clear = true;
    let code = crate::client::block_on(async {
        clear = crate::client::rehearse::run(args).await?;
        Ok(())
    });
    if code == ExitCode::SUCCESS && !clear {
        return ExitCode::from(2);
    }
    code
}

fn token_new(role: &str, name: &str) -> ExitCode {
    let Some(role) = Role::parse(role) else {
        eprintln!("error: --role {role:?}: expected admin, crisis, moderator, ingest or viewer");
        return ExitCode::from(EXIT_CONFIG);
    };
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        eprintln!("error: --name must be one word");
        return ExitCode::from(EXIT_CONFIG);
    }
    let secret = new_secret();
    crate::outln!("secret: {secret}");
    crate::outln!(
        "tokens file line: {}",
        tokens_file_line(role, name, &secret)
    );
    ExitCode::SUCCESS
}

fn run(config: RunConfig) -> ExitCode {
    if let Err(why) = config.validate() {
        eprintln!("error: {why}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let hide_tokens = config.hide_generated_tokens;
    let format = match config.log_format {
        LogFormatArg::Text => firebreak_telemetry::LogFormat::Text,
        LogFormatArg::Json => firebreak_telemetry::LogFormat::Json,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let service = config.service_name();
        let telemetry =
            firebreak_telemetry::init(format, config.otlp_endpoint.as_deref(), &service);
        let _telemetry = match telemetry {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("error: telemetry: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let shutdown = CancellationToken::new();
        crate::shutdown::on_signal(shutdown.clone());
        let app = match crate::app::start(config, shutdown).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "start-up failed");
                return ExitCode::FAILURE;
            }
        };
        print_generated_tokens(&app, hide_tokens);
        app.wait().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

/// Printed once, to stderr, never through the logger (logs are shipped elsewhere).
fn print_generated_tokens(app: &crate::app::RunningApp, hide: bool) {
    if let Some(notice) = generated_tokens_notice(&app.generated_tokens, hide) {
        eprint!("{notice}");
    }
}

/// What start-up says about generated tokens: the secrets, or with `hide` (the
/// container image's default) a warning that names none.
fn generated_tokens_notice(generated: &[(Role, String)], hide: bool) -> Option<String> {
    if generated.is_empty() {
        return None;
    }
    if hide {
        return Some(
            "warning: no --tokens-file: tokens were generated for this run and not printed \
             (FIREBREAK_HIDE_GENERATED_TOKENS); no API call can authenticate. Mount a tokens \
             file and set FIREBREAK_TOKENS_FILE.\n"
                .to_string(),
        );
    }
    let mut notice =
        "No --tokens-file: generated one token per role for this run (shown once):\n".to_string();
    for (role, secret) in generated {
        notice.push_str(&format!("  {:<10} {secret}\n", role.as_str()));
    }
    Some(notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_generated_tokens_print_a_warning_without_secrets() {
        let generated = vec![(Role::Admin, "fb_secret_admin".to_string())];
        let shown = generated_tokens_notice(&generated, false).unwrap();
        assert!(shown.contains("fb_secret_admin"));
        let hidden = generated_tokens_notice(&generated, true).unwrap();
        assert!(!hidden.contains("fb_secret"), "{hidden}");
        assert!(hidden.contains("FIREBREAK_TOKENS_FILE"), "{hidden}");
        assert_eq!(generated_tokens_notice(&[], true), None);
    }
}
