//! `firebreak cases list|show|claim|ack|resolve|release|snooze|reopen` and
//! `firebreak watch`: the moderator's terminal, over the `Moderation` gRPC service.
//! Every id may be given by a unique prefix.

use clap::Subcommand;
use firebreak_proto::v1 as pb;
use futures::StreamExt;
use pb::moderation_client::ModerationClient;
use serde_json::{Value, json};

use super::case_view::{
    case_json, case_line, detail_json, detail_text, event_name, list_header, list_row,
};
use super::{ClientArgs, status_error};

#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    /// List cases, P1 first then oldest (every unresolved case by default).
    List {
        /// Only these statuses: open, claimed, acknowledged, snoozed, resolved.
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one case with what was written and the replies sent (`--json` for scripts).
    Show { id: String },
    /// Take a case; fails if another moderator holds it.
    Claim { id: String },
    /// Acknowledge a case you hold.
    Ack { id: String },
    /// Resolve a case you hold, with a note, optionally replying to the author.
    Resolve {
        id: String,
        /// Why the case is closed (required).
        #[arg(long)]
        note: String,
        /// Sent to the author through the reply service's connectors and budgets, and
        /// recorded on the case, in the message's history and in the audit.
        #[arg(long)]
        reply: Option<String>,
    },
    /// Hand a case you hold back to the queue.
    Release { id: String },
    /// Park a case; a new message from the author wakes it early.
    Snooze {
        id: String,
        /// Minutes to snooze for.
        #[arg(long, default_value_t = 60)]
        minutes: i64,
    },
    /// Take a resolved case back into the queue, or wake a snoozed one now.
    Reopen { id: String },
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

fn print_case(args: &ClientArgs, case: Option<&pb::Case>) {
    let Some(case) = case else { return };
    if args.json {
        crate::outln!("{}", case_json(case));
    } else {
        crate::outln!("{}", case_line(case));
    }
}

type Client = ModerationClient<tonic::transport::Channel>;

/// A full case id from a unique prefix (as `cases list` prints 8 characters).
async fn full_id(client: &mut Client, args: &ClientArgs, id: String) -> anyhow::Result<String> {
    if id.len() >= 36 {
        return Ok(id);
    }
    if id.is_empty() {
        anyhow::bail!("give a case id or its first characters");
    }
    let all = [
        pb::CaseStatus::Open,
        pb::CaseStatus::Claimed,
        pb::CaseStatus::Acknowledged,
        pb::CaseStatus::Snoozed,
        pb::CaseStatus::Resolved,
    ];
    let response = client
        .list_cases(args.request(pb::ListCasesRequest {
            status: all.iter().map(|s| *s as i32).collect(),
            limit: 1000,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    let matches: Vec<&pb::Case> = response
        .cases
        .iter()
        .filter(|c| c.id.starts_with(&id))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => anyhow::bail!("no case id starts with {id:?}"),
        many => anyhow::bail!(
            "{id:?} matches {} cases ({}); give more characters",
            many.len(),
            many.iter()
                .map(|c| c.id.chars().take(12).collect::<String>())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub async fn run(args: &ClientArgs, command: CasesCommand) -> anyhow::Result<()> {
    let mut client = ModerationClient::new(args.channel().await?);
    let now = time::OffsetDateTime::now_utc();
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
                crate::outln!("{}", json!({ "cases": cases }));
            } else if response.cases.is_empty() {
                crate::outln!("no cases");
            } else {
                crate::outln!("{}", list_header());
                for case in &response.cases {
                    crate::outln!("{}", list_row(case, now));
                }
            }
        }
        CasesCommand::Show { id } => {
            let id = full_id(&mut client, args, id).await?;
            let response = client
                .get_case(args.request(pb::GetCaseRequest { id })?)
                .await
                .map_err(status_error)?
                .into_inner();
            if args.json {
                crate::outln!("{}", detail_json(&response));
            } else {
                crate::outln!("{}", detail_text(&response, now));
            }
        }
        CasesCommand::Claim { id } => {
            let id = full_id(&mut client, args, id).await?;
            let r = client.claim(args.request(pb::ClaimRequest { id })?).await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Ack { id } => {
            let id = full_id(&mut client, args, id).await?;
            let r = client
                .acknowledge(args.request(pb::AcknowledgeRequest { id })?)
                .await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Resolve { id, note, reply } => {
            let id = full_id(&mut client, args, id).await?;
            let request = pb::ResolveRequest {
                id,
                note,
                reply: reply.unwrap_or_default(),
            };
            let r = client.resolve(args.request(request)?).await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Release { id } => {
            let id = full_id(&mut client, args, id).await?;
            let r = client
                .release(args.request(pb::ReleaseRequest { id })?)
                .await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Snooze { id, minutes } => {
            if !(1..=7 * 24 * 60).contains(&minutes) {
                anyhow::bail!("--minutes must be between 1 and 10080 (a week)");
            }
            let id = full_id(&mut client, args, id).await?;
            let until = now + time::Duration::minutes(minutes);
            let request = pb::SnoozeRequest {
                id,
                until: Some(firebreak_core::wire::timestamp(until)),
            };
            let r = client.snooze(args.request(request)?).await;
            print_case(args, r.map_err(status_error)?.into_inner().case.as_ref());
        }
        CasesCommand::Reopen { id } => {
            let id = full_id(&mut client, args, id).await?;
            let r = client.reopen(args.request(pb::ReopenRequest { id })?).await;
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
                crate::outln!(
                    "{}",
                    json!({"cursor": event.cursor, "kind": event_name(event.kind), "case": case_json(&case)})
                );
            } else {
                crate::outln!(
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
