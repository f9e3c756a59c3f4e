//! `firebreak-load`: measures Firebreak's ingest throughput and latency, against a
//! running instance (`--target`, `--grpc`, `--token`) or one it starts itself
//! (`--spawn path/to/firebreak` with `--nats-url` and `--redis-url`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use firebreak_load::{dataset, grpc_stream, http_webhook, proof, scenario, spawn, surge};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// HTTP base URL of a running Firebreak.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// gRPC URL of a running Firebreak.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// An `ingest` bearer token (gRPC scenarios).
    #[arg(long, env = "FIREBREAK_LOAD_TOKEN", default_value = "")]
    token: String,
    /// The Telegram secret token Firebreak was given (webhook scenario).
    #[arg(long, env = "FIREBREAK_LOAD_TELEGRAM_SECRET", default_value = "")]
    telegram_secret: String,
    /// Start this firebreak binary (`--roles ingest`, limit off) instead of targeting one.
    #[arg(long)]
    spawn: Option<PathBuf>,
    /// NATS for the spawned firebreak.
    #[arg(long, requires = "spawn")]
    nats_url: Option<String>,
    /// Redis for the spawned firebreak.
    #[arg(long, requires = "spawn")]
    redis_url: Option<String>,
    /// CSV with a `tweet_text` column; default: the committed CrisisLex T26 sample.
    #[arg(long)]
    dataset: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N concurrent Ingest/SubmitStream streams share M messages.
    GrpcStream {
        #[arg(long, default_value_t = 8)]
        streams: usize,
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Unacknowledged messages per stream at most.
        #[arg(long, default_value_t = 1024)]
        window: usize,
    },
    /// C concurrent clients post signed Telegram webhooks, one message each.
    HttpWebhook {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 50_000)]
        messages: u64,
    },
    /// A recall surge in the scenario's mix; reports cases, automatic answers and
    /// sensitive messages that reached a case, then the insights.
    Surge {
        /// Scenario TSV; default `scenarios/recall_surge.tsv`.
        #[arg(long)]
        scenario: Option<PathBuf>,
        #[arg(long, default_value_t = 2_000)]
        messages: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Triage in-process only, no pipeline.
        #[arg(long)]
        offline: bool,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds to wait for the last outcome.
        #[arg(long, default_value_t = 300)]
        patience: u64,
    },
    /// Runs a surge scenario on a local multi-process cluster (one nats-server, one
    /// redis-server, every role its own `firebreak run`) and writes the report:
    /// report.json, surge.svg and summary.md in --out.
    SurgeProof {
        /// Surge scenario (YAML).
        #[arg(long, default_value = "load-tests/scenarios/standard_surge.yaml")]
        scenario: PathBuf,
        /// The firebreak binary; default: the one built beside this one.
        #[arg(long)]
        firebreak: Option<PathBuf>,
        #[arg(long, default_value = "target/surge-report")]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if let Scenario::SurgeProof {
        scenario,
        firebreak,
        out,
    } = &cli.scenario
    {
        let firebreak = match firebreak {
            Some(path) => path.clone(),
            None => proof::sibling_firebreak()?,
        };
        let report = proof::run(&proof::Options {
            scenario: scenario.clone(),
            firebreak,
            out: out.clone(),
        })
        .await?;
        let text = firebreak_load::summary::render(&report);
        std::fs::write(out.join("summary.md"), &text)?;
        println!("{text}");
        println!("report: {}", out.display());
        return Ok(());
    }
    if let Scenario::Surge {
        scenario,
        messages,
        seed,
        offline: true,
        ..
    } = &cli.scenario
    {
        let rows = scenario::load(&scenario.clone().unwrap_or_else(scenario::default_path))?;
        let report = surge::offline(scenario::draw(&rows, *messages, *seed));
        report.print("surge, triage only (crisis mode)");
        return Ok(());
    }
    let path = cli.dataset.clone().unwrap_or_else(dataset::default_path);
    let texts = Arc::new(dataset::load(&path)?);
    let roles = if matches!(cli.scenario, Scenario::Surge { .. }) {
        "all"
    } else {
        "ingest"
    };
    // Kept alive for the run; dropping it stops the spawned process.
    let _spawned = match &cli.spawn {
        Some(binary) => {
            let started = spawn::start(
                binary,
                cli.nats_url.as_deref(),
                cli.redis_url.as_deref(),
                roles,
            )
            .await?;
            cli.target = started.http.clone();
            cli.grpc = started.grpc.clone();
            cli.token = started.token.clone();
            cli.telegram_secret = started.telegram_secret.clone();
            Some(started)
        }
        None => None,
    };
    // Unique ids per run, so a rerun against the same Redis measures new messages, not
    // duplicates.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    match cli.scenario {
        Scenario::GrpcStream {
            streams,
            messages,
            window,
        } => {
            anyhow::ensure!(
                !cli.token.is_empty(),
                "--token (an ingest token) is required"
            );
            let options = grpc_stream::Options {
                grpc: cli.grpc,
                token: cli.token,
                streams: streams.max(1),
                messages,
                window: window.max(1),
                run_id: format!("load{run_id}"),
            };
            grpc_stream::run(options, texts).await
        }
        Scenario::HttpWebhook {
            concurrency,
            messages,
        } => {
            anyhow::ensure!(
                !cli.telegram_secret.is_empty(),
                "--telegram-secret is required"
            );
            let options = http_webhook::Options {
                target: cli.target,
                telegram_secret: cli.telegram_secret,
                concurrency: concurrency.max(1),
                messages,
                run_id: run_id % 100_000,
            };
            http_webhook::run(options, texts).await
        }
        Scenario::Surge {
            scenario,
            messages,
            seed,
            concurrency,
            patience,
            ..
        } => {
            anyhow::ensure!(
                !cli.token.is_empty(),
                "--token (an admin token) is required"
            );
            let rows = scenario::load(&scenario.unwrap_or_else(scenario::default_path))?;
            let options = surge::Live {
                target: cli.target.clone(),
                token: cli.token.clone(),
                concurrency,
                run_id: format!("surge{run_id}"),
                patience: std::time::Duration::from_secs(patience),
            };
            let report = surge::live(options, scenario::draw(&rows, messages, seed)).await?;
            report.print("surge through the pipeline (crisis mode)");
            surge::print_insights(&cli.target, &cli.token).await?;
            anyhow::ensure!(
                report.lost() == 0,
                "{} messages without an outcome",
                report.lost()
            );
            Ok(())
        }
        // Run before the dataset is read, above.
        Scenario::SurgeProof { .. } => Ok(()),
    }
}
