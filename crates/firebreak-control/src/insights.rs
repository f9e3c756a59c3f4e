//! Reading the insights: every classify replica's snapshot from the control bucket,
//! merged (`firebreak_insights::merge`). Served by `GET /v1/insights` and gRPC
//! `Insights`, and quoted in surge alerts.

use firebreak_bus::{Bus, BusError};
use firebreak_core::subjects::KV_INSIGHTS_PREFIX;
use firebreak_insights::{Insights, Snapshot};

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Every replica's fresh snapshot, merged. A snapshot that does not parse (another
/// version mid-upgrade) is left out rather than failing the whole view.
pub async fn read(bus: &dyn Bus) -> Result<Insights, BusError> {
    let kv = bus.kv();
    let mut snapshots = Vec::new();
    for key in kv.keys(KV_INSIGHTS_PREFIX).await? {
        if let Some(entry) = kv.get(&key).await?
            && let Ok(snapshot) = serde_json::from_slice::<Snapshot>(&entry.value)
        {
            snapshots.push(snapshot);
        }
    }
    Ok(firebreak_insights::merge(&snapshots, now_ms()))
}

/// The top themes in one line, for a surge alert: what the surge is about.
pub fn describe_top_themes(insights: &Insights, n: usize) -> Option<String> {
    let themes: Vec<String> = insights
        .all
        .themes
        .iter()
        .take(n)
        .map(|t| {
            format!(
                "{} messages, {} (e.g. message {})",
                t.count, t.trend, t.representative_message_id
            )
        })
        .collect();
    (!themes.is_empty()).then(|| format!("top themes: {}", themes.join("; ")))
}
