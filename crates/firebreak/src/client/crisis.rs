//! `firebreak crisis on|off|status`: the crisis team's switch, over gRPC
//! `CrisisControl`. The actor in the audit is the token's name.

use clap::Subcommand;
use firebreak_proto::v1 as pb;
use firebreak_proto::v1::crisis_control_client::CrisisControlClient;

use super::{ClientArgs, status_error};

#[derive(Debug, Subcommand)]
pub enum CrisisCommand {
    /// Switch crisis mode on (role crisis).
    On {
        #[command(flatten)]
        client: ClientArgs,
        /// Why; recorded in the audit.
        #[arg(long)]
        reason: String,
        /// Switch off by itself after this long, e.g. 90s, 30m, 2h, 1d.
        #[arg(long, value_parser = parse_duration)]
        expires: Option<u64>,
        /// Activate this playbook with the change (`default`, NAME or NAME@HASH);
        /// `crisis off` returns to the normal-mode playbook running now.
        #[arg(long)]
        playbook: Option<String>,
        /// Activate it although a rehearsal blocked it (audited).
        #[arg(long)]
        force: bool,
    },
    /// Switch crisis mode off (role crisis).
    Off {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long, default_value = "switched off from the command line")]
        reason: String,
    },
    /// Show the current mode (role viewer or above).
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `90s`, `30m`, `2h`, `1d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected e.g. 90s, 30m, 2h or 1d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    match value.checked_mul(unit) {
        Some(0) | None => Err(format!("{text:?}: must be positive")),
        Some(secs) => Ok(secs),
    }
}

fn format_time(t: &Option<prost_types::Timestamp>) -> Option<String> {
    let t = t.as_ref()?;
    let at = time::OffsetDateTime::from_unix_timestamp(t.seconds).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn mode_json(mode: &pb::CrisisMode) -> serde_json::Value {
    serde_json::json!({
        "active": mode.active,
        "reason": mode.reason,
        "actor": mode.actor,
        "playbook": mode.playbook,
        "changed_at": format_time(&mode.changed_at),
        "expires_at": format_time(&mode.expires_at),
        "revision": mode.revision,
    })
}

fn print_mode(args: &ClientArgs, mode: &pb::CrisisMode, normal_playbook: &str) {
    if args.json {
        let mut json = mode_json(mode);
        json["normal_playbook"] =
            serde_json::json!(Some(normal_playbook).filter(|p| !p.is_empty()));
        crate::outln!("{json}");
        return;
    }
    crate::outln!("crisis mode: {}", if mode.active { "ON" } else { "off" });
    if !mode.reason.is_empty() {
        crate::outln!("  reason:   {}", mode.reason);
    }
    crate::outln!("  by:       {}", mode.actor);
    if let Some(at) = format_time(&mode.changed_at) {
        crate::outln!("  since:    {at}");
    }
    if let Some(at) = format_time(&mode.expires_at) {
        crate::outln!("  expires:  {at}");
    }
    crate::outln!("  playbook: {}", mode.playbook);
    if !normal_playbook.is_empty() {
        crate::outln!("  crisis off returns to: {normal_playbook}");
    }
}

impl CrisisCommand {
    fn client(&self) -> &ClientArgs {
        match self {
            CrisisCommand::On { client, .. }
            | CrisisCommand::Off { client, .. }
            | CrisisCommand::Status { client } => client,
        }
    }
}

/// The client options go after the subcommand (`firebreak crisis on --server …`), as
/// people type them.
pub async fn run(command: CrisisCommand) -> anyhow::Result<()> {
    let args = &command.client().clone();
    let mut client = CrisisControlClient::new(args.channel().await?);
    let (mode, normal) = match command {
        CrisisCommand::Status { .. } => {
            let status = client
                .get_mode(args.request(pb::GetModeRequest {})?)
                .await
                .map_err(status_error)?
                .into_inner();
            (status.mode, status.normal_playbook)
        }
        CrisisCommand::On {
            reason,
            expires,
            playbook,
            force,
            ..
        } => {
            let request = pb::SetModeRequest {
                active: true,
                reason,
                playbook: playbook.unwrap_or_default(),
                expires_in_secs: expires.unwrap_or(0),
                force,
            };
            let set = client
                .set_mode(args.request(request)?)
                .await
                .map_err(status_error)?
                .into_inner();
            (set.mode, set.normal_playbook)
        }
        CrisisCommand::Off { reason, .. } => {
            let request = pb::SetModeRequest {
                active: false,
                reason,
                ..Default::default()
            };
            let set = client
                .set_mode(args.request(request)?)
                .await
                .map_err(status_error)?
                .into_inner();
            (set.mode, set.normal_playbook)
        }
    };
    let mode = mode.ok_or_else(|| anyhow::anyhow!("the server sent no mode"))?;
    print_mode(args, &mode, &normal);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert_eq!(parse_duration("45"), Ok(45));
        assert!(parse_duration("2w").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
    }
}
