//! `firebreak insights`: what the brand is being told, over gRPC `Insights` (role
//! viewer or above): volume and negative share per channel, the top themes with their
//! trend and representative message id, and the key questions that nearly matched.

use firebreak_proto::v1 as pb;
use firebreak_proto::v1::insights_client::InsightsClient;

use super::{ClientArgs, status_error};

pub async fn run(args: &ClientArgs, channel: Option<&str>) -> anyhow::Result<()> {
    let mut client = InsightsClient::new(args.channel().await?);
    let insights = client
        .get_insights(args.request(pb::GetInsightsRequest {})?)
        .await
        .map_err(status_error)?
        .into_inner();
    let views: Vec<&pb::ChannelInsights> = match channel {
        None => insights.all.iter().chain(&insights.channels).collect(),
        Some(name) => insights
            .all
            .iter()
            .chain(&insights.channels)
            .filter(|c| c.channel == name)
            .collect(),
    };
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&views.iter().map(|c| json(c)).collect::<Vec<_>>())?
        );
        return Ok(());
    }
    crate::outln!(
        "last {} min, trend over {} min, {} classify replica(s)",
        insights.window_secs / 60,
        insights.trend_secs / 60,
        insights.replicas
    );
    for view in views {
        print_view(view);
    }
    Ok(())
}

fn json(c: &pb::ChannelInsights) -> serde_json::Value {
    serde_json::json!({
        "channel": c.channel,
        "volume": c.volume,
        "negative": c.negative,
        "negative_share": c.negative_share,
        "recent": c.recent,
        "previous": c.previous,
        "handling": c.handling,
        "themes": c.themes.iter().map(|t| serde_json::json!({
            "count": t.count,
            "share": t.share,
            "recent": t.recent,
            "previous": t.previous,
            "trend": t.trend,
            "representative_message_id": t.representative_message_id,
        })).collect::<Vec<_>>(),
        "near_misses": c.near_misses.iter().map(|n| serde_json::json!({
            "key_question": n.key_question,
            "count": n.count,
        })).collect::<Vec<_>>(),
    })
}

fn print_view(c: &pb::ChannelInsights) {
    crate::outln!(
        "\n{}: {} messages, {:.0} % negative ({} in the last span, {} before)",
        c.channel,
        c.volume,
        100.0 * c.negative_share,
        c.recent,
        c.previous
    );
    if !c.handling.is_empty() {
        let mut handling: Vec<_> = c.handling.iter().collect();
        handling.sort();
        let parts: Vec<String> = handling.iter().map(|(k, v)| format!("{k} {v}")).collect();
        crate::outln!("  handled: {}", parts.join(", "));
    }
    for (rank, theme) in c.themes.iter().enumerate() {
        crate::outln!(
            "  theme {}: {} messages ({:.0} %), {} — e.g. message {}",
            rank + 1,
            theme.count,
            100.0 * theme.share,
            theme.trend,
            theme.representative_message_id
        );
    }
    for near in &c.near_misses {
        crate::outln!(
            "  nearly matched {}: {} messages (a phrasing to add to the playbook?)",
            near.key_question,
            near.count
        );
    }
}
