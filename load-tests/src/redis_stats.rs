//! Redis round trips, from `INFO commandstats`: every command (a script call counts
//! once) the server ran, summed. The difference between two readings, less the
//! background calls measured while the cluster idles, divided by the messages sent in
//! between, is the round trips per message.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CommandStats {
    pub calls: BTreeMap<String, u64>,
}

impl CommandStats {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Calls per command since `before`, the busiest first.
    pub fn since(&self, before: &CommandStats) -> Vec<(String, u64)> {
        let mut delta: Vec<(String, u64)> = self
            .calls
            .iter()
            .map(|(c, n)| {
                (
                    c.clone(),
                    n.saturating_sub(before.calls.get(c).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        delta.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        delta
    }
}

pub async fn read(redis_url: &str) -> anyhow::Result<CommandStats> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await?;
    Ok(parse(&info))
}

/// `cmdstat_evalsha:calls=12,usec=…` lines into calls per command.
pub fn parse(info: &str) -> CommandStats {
    let mut calls = BTreeMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line.trim().split_once(':') else {
            continue;
        };
        let Some(name) = name.strip_prefix("cmdstat_") else {
            continue;
        };
        let n = fields
            .split(',')
            .find_map(|f| f.strip_prefix("calls="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        calls.insert(name.to_string(), n);
    }
    CommandStats { calls }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_lines_become_calls_per_command() {
        let before = parse(
            "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=50,usec_per_call=5.00\r\ncmdstat_info:calls=1,usec=9\r\n",
        );
        let after = parse(
            "cmdstat_evalsha:calls=25,usec=90\r\ncmdstat_info:calls=2,usec=9\r\ncmdstat_ping:calls=3,usec=1\r\n",
        );
        assert_eq!(before.total(), 11);
        assert_eq!(
            after.since(&before),
            vec![
                ("evalsha".to_string(), 15),
                ("ping".to_string(), 3),
                ("info".to_string(), 1)
            ]
        );
    }
}
