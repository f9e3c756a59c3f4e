//! `firebreak cases list|show|claim|ack|resolve|release` and `firebreak watch`: the
//! moderator's terminal, over the `Moderation` gRPC service.

use clap::Subcommand;
use firebreak_proto::v1 as pb;
use futures::StreamExt;
use pb::moderation_client::ModerationClient;
use serde_json::{Value, json};

use super::{ClientArgs, status_error};

#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    /// List cases, P1 first (every unresolved case by default).
    List {
        /// Only these statuses: open, claimed, acknowledged, snoozed, resolved.
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one case and its thread.
    Show { id: String },
    /// Take a case; fails if another moderator holds it.
    Claim { id: String },
    /// Acknowledge a case you hold.
    Ack { id: String },
    /// Resolve a case with a note, optionally replying to the author.
    Resolve {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
        /// Sent to the author through the reply service's connectors and budgets.
        #[arg(long)]
        reply: Option<String>,
    },
    /// Hand a case you hold back to the queue.
    Release { id: String },
}

fn status_name(value: i32) -> &'static str {
    match pb::CaseStatus::try_from(value).unwrap_or(pb::CaseStatus::Unspecified) {
        pb::CaseStatus::Open => "open",
        pb::CaseStatus::Claimed => "claimed",
        pb::CaseStatus::Acknowledged => "acknowledged",
        pb::CaseStatus::Resolved => "resolved",
        pb::CaseStatus::Snoozed => "snoozed",
        pb::CaseStatus::Unspecified => "unknown",
    }
}

fn status_value(name: &str) -> anyhow::Result<i32> {
    Ok(match name {
        "open" => pb::CaseStatus::Open,
        "claimed" => pb::CaseStatus::Claimed,
        "acknowledged" | "ack" => pb::CaseStatus::Acknowledged,
        "resolved" => pb::CaseStatus::Resolved,
        "snoozed" => pb::CaseStatus::Snoozed,
        other => anyhow::bail!(
            "--status {other:?}: expected open, claimed, acknowledged, snoozed or resolved"
        ),
    } as i32)
}

fn priority_name(value: i32) -> String {
    match pb::Priority::try_from(value).unwrap_or(pb::Priority::Unspecified) {
        pb::Priority::Unspecified => "P?".into(),
        p => format!("P{}", p as i32),
    }
}

fn event_name(value: i32) -> String {
    pb::CaseEventKind::try_from(value)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("CASE_EVENT_KIND_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn channel_name(value: i32) -> String {
    pb::Channel::try_from(value)
        .map(|c| {
            c.as_str_name()
                .trim_start_matches("CHANNEL_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn time_text(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    let at = time::OffsetDateTime::from_unix_timestamp(t.seconds).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The JSON form of a case, with names rather than enum numbers.
pub fn case_json(c: &pb::Case) -> Value {
    json!({
        "id": c.id,
        "status": status_name(c.status),
        "priority": priority_name(c.priority),
        "channel": channel_name(c.channel),
        "thread_id": c.thread_id,
        "author_id": c.author_id,
        "reasons": c.reasons,
        "flags": c.flags.iter().map(|f| json!({"kind": f.kind, "evidence": f.evidence})).collect::<Vec<_>>(),
        "message_ids": c.message_ids,
        "linked_case_id": (!c.linked_case_id.is_empty()).then_some(&c.linked_case_id),
        "assignee": (!c.assignee.is_empty()).then_some(&c.assignee),
        "tier": c.tier,
        "created_at": time_text(c.created_at.as_ref()),
        "updated_at": time_text(c.updated_at.as_ref()),
        "resolution_note": c.resolution_note,
    })
}

/// One line per case, for humans.
fn case_line(c: &pb::Case) -> String {
    format!(
        "{} {:<12} {:<10} {:<10} tier {} {} msgs  {}",
        priority_name(c.priority),
        status_name(c.status),
        channel_name(c.channel),
        if c.assignee.is_empty() {
            "-"
        } else {
            &c.assignee
        },
        c.tier,
        c.message_ids.len(),
        c.id,
    )
}

fn print_case(args: &ClientArgs, case: Option<&pb::Case>) {
    let Some(case) = case else { return };
    if args.json {
        println!("{}", case_json(case));
    } else {
        println!("{}", case_line(case));
    }
}

pub async fn run(args: &ClientArgs, command: CasesCommand) -> anyhow::Result<()> {
    let mut client = ModerationClient::new(args.channel().await?);
    match command {
        CasesCommand::List { status, limit } => {
            let status = status
                .iter()
                .map(|s| status_value(s.trim()))
                .collect::<anyhow::Result<_>>()?;
            let response = client
                .list_cases(args.request(pb::ListCasesRequest { status, limit })?)
                .await
                .map_err(status_error)?
                .into_inner();
            if args.json {
                let cases: Vec<Value> = response.cases.iter().map(case_json).collect();
                println!("{}", json!({ "cases": cases }));
            } else if response.cases.is_empty() {
                println!("no cases");
            } else {
                response
                    .cases
                    .iter()
                    .for_each(|c| println!("{}", case_line(c)));
            }
        }
        CasesCommand::Show { id } => {
            let response = client
                .get_case(args.request(pb::GetCaseRequest { id })?)
                .await
                .map_err(status_error)?
                .into_inner();
            let case = response.case.unwrap_or_default();
            if args.json {
                let mut body = case_json(&case);
                body["messages"] = response
                    .messages
                    .iter()
                    .map(|m| json!({"id": m.id, "external_id": m.external_id}))
                    .collect();
                println!("{body}");
            } else {
                println!("{}", serde_json::to_string_pretty(&case_json(&case))?);
            }
        }
        CasesCommand::Claim { id } => {
            let r = client.claim(args.request(pb::ClaimRequest { id })?).await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Ack { id } => {
            let r = client
                .acknowledge(args.request(pb::AcknowledgeRequest { id })?)
                .await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Resolve { id, note, reply } => {
            let request = pb::ResolveRequest {
                id,
                note,
                reply: reply.unwrap_or_default(),
            };
            let r = client.resolve(args.request(request)?).await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Release { id } => {
            let r = client
                .release(args.request(pb::ReleaseRequest { id })?)
                .await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
    }
    Ok(())
}

/// Follows case events live, P1 first on connect; reconnects from the last cursor seen
/// so nothing is missed across a server restart.
pub async fn watch(args: &ClientArgs, mut cursor: u64) -> anyhow::Result<()> {
    loop {
        let mut client = match args.channel().await {
            Ok(channel) => ModerationClient::new(channel),
            Err(e) if cursor > 0 => {
                eprintln!("reconnecting: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut stream = match client
            .watch(args.request(pb::WatchRequest { cursor })?)
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            Err(status) => return Err(status_error(status)),
        };
        while let Some(item) = stream.next().await {
            let Some(event) = item.map_err(status_error)?.event else {
                continue;
            };
            cursor = cursor.max(event.cursor);
            let case = event.case.unwrap_or_default();
            if args.json {
                println!(
                    "{}",
                    json!({"cursor": event.cursor, "kind": event_name(event.kind), "case": case_json(&case)})
                );
            } else {
                println!(
                    "#{:<6} {:<12} {}",
                    event.cursor,
                    event_name(event.kind),
                    case_line(&case)
                );
            }
        }
        eprintln!("stream ended; resuming after cursor {cursor}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::channel_name;
    use firebreak_proto::v1 as pb;

    #[test]
    fn channels_print_by_their_contract_names() {
        assert_eq!(channel_name(pb::Channel::Line as i32), "line");
        assert_eq!(channel_name(pb::Channel::Whatsapp as i32), "whatsapp");
        assert_eq!(channel_name(999), "unknown");
    }
}
