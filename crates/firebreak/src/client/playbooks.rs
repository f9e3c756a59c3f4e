//! `firebreak playbook list|show|diff|upload|activate|rollback`: the playbook lifecycle
//! on a running server, over gRPC `Playbooks`. Reading needs the viewer role; upload,
//! activate and rollback the crisis role, whose token name the audit records.

use std::path::PathBuf;

use clap::Subcommand;
use firebreak_proto::v1 as pb;
use firebreak_proto::v1::playbooks_client::PlaybooksClient;

use super::{ClientArgs, status_error};

#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// The playbooks on the server (latest version of each, and `default`).
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// One playbook: `default`, NAME (latest upload) or NAME@HASH; its versions too.
    Show {
        reference: String,
        /// Print only the YAML.
        #[arg(long)]
        yaml: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// What changes from FROM to TO (with one argument: from the active playbook).
    Diff {
        from: String,
        to: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store FILE as a new version (role crisis); its `name:` names it. Not activated.
    Upload {
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make a version the one every role runs (role crisis).
    Activate {
        reference: String,
        #[arg(long, default_value = "activated from the command line")]
        reason: String,
        /// Activate although a rehearsal found sensitive messages it would answer
        /// automatically (audited).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Go back to the playbook active before the last activation (role crisis).
    Rollback {
        #[arg(long, default_value = "rolled back from the command line")]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

impl LifecycleCommand {
    fn client(&self) -> &ClientArgs {
        match self {
            LifecycleCommand::List { client }
            | LifecycleCommand::Show { client, .. }
            | LifecycleCommand::Diff { client, .. }
            | LifecycleCommand::Upload { client, .. }
            | LifecycleCommand::Activate { client, .. }
            | LifecycleCommand::Rollback { client, .. } => client,
        }
    }
}

fn time_of(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub fn version_json(v: &pb::PlaybookVersion) -> serde_json::Value {
    serde_json::json!({
        "name": v.name,
        "version": v.version,
        "uploaded_by": v.uploaded_by,
        "role": v.role,
        "uploaded_at": time_of(&v.uploaded_at),
        "builtin": v.builtin,
        "active": v.active,
    })
}

fn version_line(v: &pb::PlaybookVersion) -> String {
    let marker = if v.active { "*" } else { " " };
    let by = if v.builtin {
        "built in".to_string()
    } else if v.uploaded_by.is_empty() {
        "start-up playbook".to_string()
    } else {
        format!(
            "by {} ({}) at {}",
            v.uploaded_by,
            v.role,
            time_of(&v.uploaded_at)
        )
    };
    format!("{marker} {:<24} {by}", v.version)
}

fn print_version(
    args: &ClientArgs,
    what: &str,
    v: Option<pb::PlaybookVersion>,
) -> anyhow::Result<()> {
    let v = v.ok_or_else(|| anyhow::anyhow!("the server sent no playbook"))?;
    if args.json {
        crate::outln!("{}", version_json(&v));
    } else {
        crate::outln!("{what}: {}", version_line(&v).trim_start());
    }
    Ok(())
}

pub async fn run(command: LifecycleCommand) -> anyhow::Result<()> {
    let args = &command.client().clone();
    let mut client = PlaybooksClient::new(args.channel().await?);
    match command {
        LifecycleCommand::List { .. } => {
            let listed = client
                .list_playbooks(args.request(pb::ListPlaybooksRequest {})?)
                .await
                .map_err(status_error)?
                .into_inner()
                .playbooks;
            if args.json {
                let all: Vec<_> = listed.iter().map(version_json).collect();
                crate::outln!("{}", serde_json::Value::from(all));
            } else {
                for v in &listed {
                    crate::outln!("{}", version_line(v));
                }
            }
        }
        LifecycleCommand::Show {
            reference, yaml, ..
        } => {
            let shown = client
                .get_playbook(args.request(pb::GetPlaybookRequest { reference })?)
                .await
                .map_err(status_error)?
                .into_inner();
            if yaml {
                print!("{}", shown.source);
            } else if args.json {
                crate::outln!(
                    "{}",
                    serde_json::json!({
                        "playbook": shown.playbook.as_ref().map(version_json),
                        "source": shown.source,
                        "versions": shown.versions.iter().map(version_json).collect::<Vec<_>>(),
                    })
                );
            } else {
                if let Some(v) = &shown.playbook {
                    crate::outln!("# {}", version_line(v).trim_start());
                }
                for v in &shown.versions {
                    crate::outln!("# version {}", version_line(v).trim_start());
                }
                print!("{}", shown.source);
            }
        }
        LifecycleCommand::Diff { from, to, .. } => {
            // One argument: from the active playbook to it.
            let (from, to) = match to {
                Some(to) => (from, to),
                None => (String::new(), from),
            };
            let diff = client
                .diff_playbooks(args.request(pb::DiffPlaybooksRequest { from, to })?)
                .await
                .map_err(status_error)?
                .into_inner();
            if args.json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"from": diff.from_version, "to": diff.to_version, "diff": diff.diff})
                );
            } else if diff.diff.is_empty() {
                crate::outln!("{} and {} are the same", diff.from_version, diff.to_version);
            } else {
                print!("{}", diff.diff);
            }
        }
        LifecycleCommand::Upload { file, .. } => {
            let source = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            // The file names itself; the server checks the name, so this only saves
            // typing it twice.
            let name = firebreak_triage::Playbook::load(&source)
                .map_err(|e| anyhow::anyhow!("{}:\n{e}", file.display()))?
                .spec()
                .name
                .clone();
            let uploaded = client
                .upload_playbook(args.request(pb::UploadPlaybookRequest { name, source })?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_version(args, "uploaded", uploaded.playbook)?;
        }
        LifecycleCommand::Activate {
            reference,
            reason,
            force,
            ..
        } => {
            let request = pb::ActivatePlaybookRequest {
                reference,
                reason,
                force,
            };
            let activated = client
                .activate_playbook(args.request(request)?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_version(args, "active", activated.playbook)?;
        }
        LifecycleCommand::Rollback { reason, .. } => {
            let restored = client
                .rollback_playbook(args.request(pb::RollbackPlaybookRequest { reason })?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_version(args, "active again", restored.playbook)?;
        }
    }
    Ok(())
}
