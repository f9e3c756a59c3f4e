//! `firebreak rehearse DRAFT.yaml [--since 2h] [--file messages.jsonl]`: replays recent
//! inbound traffic (or recorded messages) through a draft playbook and the active one on
//! the server, sending nothing, and prints what would change. Exit code 2 when the
//! draft would answer a sensitive message automatically: its activation is then
//! blocked until fixed, or forced (audited).

use std::path::PathBuf;

use clap::Args;
use firebreak_proto::v1 as pb;
use firebreak_proto::v1::playbooks_client::PlaybooksClient;

use super::{ClientArgs, status_error};

#[derive(Clone, Debug, Args)]
pub struct RehearseArgs {
    /// The draft playbook file; its `name:` names it.
    pub draft: PathBuf,
    /// Replay the server's inbound traffic of this long ago until now (e.g. 30m, 2h).
    #[arg(long, value_parser = super::crisis::parse_duration, default_value = "1h")]
    pub since: u64,
    /// Replay these messages instead: one JSON object per line, as POST /v1/messages
    /// takes them (only `text` is required).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Rehearse as if crisis mode were on (default: the server's current mode).
    #[arg(long, conflicts_with = "normal")]
    pub crisis: bool,
    /// Rehearse as if crisis mode were off.
    #[arg(long)]
    pub normal: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Whether the draft may be activated without forcing.
pub async fn run(args: RehearseArgs) -> anyhow::Result<bool> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
    };
    let source = read(&args.draft)?;
    let name = firebreak_triage::Playbook::load(&source)
        .map_err(|e| anyhow::anyhow!("{}:\n{e}", args.draft.display()))?
        .spec()
        .name
        .clone();
    let messages_jsonl = match &args.file {
        Some(path) => read(path)?,
        None => String::new(),
    };
    let crisis = if args.crisis {
        Some(true)
    } else if args.normal {
        Some(false)
    } else {
        None
    };
    let client_args = &args.client;
    let mut client = PlaybooksClient::new(client_args.channel().await?);
    let request = pb::RehearsePlaybookRequest {
        name,
        source,
        messages_jsonl,
        since_secs: args.since,
        crisis,
    };
    let response = client
        .rehearse_playbook(client_args.request(request)?)
        .await
        .map_err(status_error)?
        .into_inner();
    let report: serde_json::Value = serde_json::from_str(&response.report_json)?;
    if client_args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(!response.blocks_activation)
}

fn print_counts(title: &str, counts: &serde_json::Value) {
    let Some(counts) = counts.as_object().filter(|c| !c.is_empty()) else {
        return;
    };
    crate::outln!("{title}:");
    for (change, count) in counts {
        crate::outln!("  {count:>6}  {change}");
    }
}

fn decision(d: &serde_json::Value) -> String {
    format!(
        "{} {} {}",
        d["route"].as_str().unwrap_or("?"),
        d["priority"].as_str().unwrap_or("?"),
        d["key_question"].as_str().unwrap_or("-"),
    )
}

fn print_example(e: &serde_json::Value) {
    crate::outln!(
        "    {} ({}): {}  →  {}",
        e["message_id"].as_str().unwrap_or("?"),
        e["channel"].as_str().unwrap_or("?"),
        decision(&e["active"]),
        decision(&e["draft"]),
    );
    if let Some(text) = e["text"].as_str() {
        crate::outln!("      {text:?}");
    }
}

fn print_report(r: &serde_json::Value) {
    crate::outln!(
        "rehearsal of {} against {} ({} mode): {} messages, {} decisions change",
        r["draft"].as_str().unwrap_or("?"),
        r["active"].as_str().unwrap_or("?"),
        if r["crisis"].as_bool() == Some(true) {
            "crisis"
        } else {
            "normal"
        },
        r["messages"],
        r["changed"],
    );
    print_counts("by route", &r["by_route"]);
    print_counts("by key question", &r["by_key_question"]);
    print_counts("by priority", &r["by_priority"]);
    if let Some(examples) = r["examples"].as_object() {
        for (kind, list) in examples {
            crate::outln!("  e.g. {kind}:");
            for e in list.as_array().into_iter().flatten() {
                print_example(e);
            }
        }
    }
    crate::outln!(
        "reply budget: {:.2}/s needed at the observed rate ({} replies over {:.0} s), budget {}/s{}",
        r["needed_per_sec"].as_f64().unwrap_or(0.0),
        r["draft_replies"],
        r["span_secs"].as_f64().unwrap_or(0.0),
        r["budget_per_sec"],
        match r["over_budget"].as_array().filter(|o| !o.is_empty()) {
            Some(over) => format!(
                "; over budget on {}",
                over.iter()
                    .filter_map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        }
    );
    let sensitive = r["sensitive_auto_replies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if sensitive.is_empty() {
        crate::outln!("no sensitive message would be answered automatically");
    } else {
        crate::outln!(
            "BLOCKED: {} sensitive message(s) would be answered automatically; activation \
             is refused until a rehearsal finds none (or `playbook activate --force`, audited):",
            sensitive.len()
        );
        for e in &sensitive {
            print_example(e);
        }
    }
}
