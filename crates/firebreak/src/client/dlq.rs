//! `firebreak dlq list|show|replay`: the dead-letter stream over gRPC `DeadLetters`
//! (role admin). Entries never show the payload: it holds what people wrote.

use clap::Subcommand;
use firebreak_proto::v1 as pb;
use firebreak_proto::v1::dead_letters_client::DeadLettersClient;

use super::{ClientArgs, status_error};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// The newest dead letters, newest first.
    List {
        /// How many (at most 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One dead letter and its message's history.
    Show {
        /// Its sequence, as `list` shows it.
        sequence: u64,
    },
    /// Put a dead letter back through the pipeline as a new attempt, once what made it
    /// fail is fixed. Its message keeps its history; the replay is audited.
    Replay {
        sequence: u64,
        /// What was fixed; recorded in the message's history and the audit.
        #[arg(long)]
        reason: String,
    },
}

fn json(d: &pb::DeadLetter) -> serde_json::Value {
    serde_json::json!({
        "sequence": d.sequence,
        "stage": d.stage,
        "original_subject": d.original_subject,
        "reason": d.reason,
        "message_id": d.message_id,
        "at": d.at,
        "deliveries": d.deliveries,
        "message_status": d.message_status,
    })
}

fn line(d: &pb::DeadLetter) -> String {
    format!(
        "#{:<6} {:<10} {:<26} {:<13} {} deliveries  {}  {}",
        d.sequence,
        d.stage,
        if d.message_id.is_empty() {
            "-"
        } else {
            &d.message_id
        },
        if d.message_status.is_empty() {
            "-"
        } else {
            &d.message_status
        },
        d.deliveries,
        d.at,
        d.reason
    )
}

pub async fn run(args: &ClientArgs, command: DlqCommand) -> anyhow::Result<()> {
    let mut client = DeadLettersClient::new(args.channel().await?);
    match command {
        DlqCommand::List { limit } => {
            let entries = client
                .list_dead_letters(args.request(pb::ListDeadLettersRequest { limit })?)
                .await
                .map_err(status_error)?
                .into_inner()
                .entries;
            if args.json {
                let all: Vec<_> = entries.iter().map(json).collect();
                crate::outln!("{}", serde_json::to_string_pretty(&all)?);
            } else if entries.is_empty() {
                crate::outln!("no dead letters");
            } else {
                for entry in &entries {
                    crate::outln!("{}", line(entry));
                }
            }
        }
        DlqCommand::Show { sequence } => {
            let shown = client
                .get_dead_letter(args.request(pb::GetDeadLetterRequest { sequence })?)
                .await
                .map_err(status_error)?
                .into_inner();
            let entry = shown.entry.unwrap_or_default();
            if args.json {
                let mut value = json(&entry);
                value["history"] = serde_json::json!(shown.history);
                crate::outln!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                crate::outln!("{}", line(&entry));
                crate::outln!("  from {}", entry.original_subject);
                for h in &shown.history {
                    crate::outln!("  {h}");
                }
            }
        }
        DlqCommand::Replay { sequence, reason } => {
            let replayed = client
                .replay_dead_letter(args.request(pb::ReplayDeadLetterRequest { sequence, reason })?)
                .await
                .map_err(status_error)?
                .into_inner();
            let entry = replayed.entry.unwrap_or_default();
            if args.json {
                let mut value = json(&entry);
                value["stream_sequence"] = serde_json::json!(replayed.stream_sequence);
                crate::outln!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                crate::outln!(
                    "replayed #{} (message {}) to {} as a new attempt",
                    entry.sequence,
                    entry.message_id,
                    entry.original_subject
                );
            }
        }
    }
    Ok(())
}
