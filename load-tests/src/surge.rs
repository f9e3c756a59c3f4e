//! `surge`: a recall surge in the scenario's mix, and what became of it. The figures
//! that matter to a crisis team: the share of messages that opened or joined a case
//! (target ≤ 25 %), the share answered automatically by a key question or the
//! first line (target ≥ 50 %), and the sensitive messages that reached a case
//! (target 100 %).
//!
//! `--offline` runs the triage engine in-process, in crisis mode, on the same draw:
//! a quick check of the routing with no pipeline. Without it, the messages go through
//! a live Firebreak (`POST /v1/messages`), crisis mode on, and each outcome is read back
//! from `GET /v1/messages/{id}`; the insights follow.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::{Channel, Route, Visibility};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::scenario::{Category, Drawn};

/// What became of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Opened or joined a case.
    Case,
    /// Answered by a key question's reply.
    Answered,
    /// Answered by the first line: an acknowledgement or a holding reply.
    FirstLine,
    Ignored,
    /// No outcome in time, or dead-lettered: a failure of the run.
    Lost,
}

#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<(Drawn, Fate, String)>,
}

impl Report {
    pub fn push(&mut self, drawn: Drawn, fate: Fate, reason: String) {
        self.rows.push((drawn, fate, reason));
    }

    fn share(
        &self,
        filter: impl Fn(&Drawn) -> bool,
        fate: impl Fn(Fate) -> bool,
    ) -> (usize, usize) {
        let of: Vec<_> = self.rows.iter().filter(|(d, _, _)| filter(d)).collect();
        (of.iter().filter(|(_, f, _)| fate(*f)).count(), of.len())
    }

    /// Share of all messages that opened or joined a case.
    pub fn case_share(&self) -> f64 {
        ratio(self.share(|_| true, |f| f == Fate::Case))
    }

    /// Share answered automatically (key question or first line).
    pub fn answered_share(&self) -> f64 {
        ratio(self.share(|_| true, |f| matches!(f, Fate::Answered | Fate::FirstLine)))
    }

    /// Share of sensitive messages that reached a case.
    pub fn sensitive_reached(&self) -> f64 {
        ratio(self.share(
            |d| d.row.category == Category::Sensitive,
            |f| f == Fate::Case,
        ))
    }

    pub fn lost(&self) -> usize {
        self.rows
            .iter()
            .filter(|(_, f, _)| *f == Fate::Lost)
            .count()
    }

    pub fn print(&self, title: &str) {
        println!("== {title}: {} messages", self.rows.len());
        println!(
            "{:<18} {:>6} {:>7} {:>9} {:>10} {:>8} {:>6}",
            "category", "count", "case", "answered", "first line", "ignored", "lost"
        );
        for category in Category::ALL {
            let of = |fate: Fate| {
                let (n, total) = self.share(|d| d.row.category == category, |f| f == fate);
                (n, total)
            };
            let total = of(Fate::Case).1;
            if total == 0 {
                continue;
            }
            let pct = |fate| format!("{:.1}%", 100.0 * ratio(of(fate)));
            println!(
                "{:<18} {:>6} {:>7} {:>9} {:>10} {:>8} {:>6}",
                category.as_str(),
                total,
                pct(Fate::Case),
                pct(Fate::Answered),
                pct(Fate::FirstLine),
                pct(Fate::Ignored),
                of(Fate::Lost).0
            );
        }
        println!(
            "opened or joined a case: {:.1}% (target ≤ 25%)\nanswered automatically: {:.1}% (target ≥ 50%)\nsensitive messages that reached a case: {:.1}% (target 100%)\nlost: {}",
            100.0 * self.case_share(),
            100.0 * self.answered_share(),
            100.0 * self.sensitive_reached(),
            self.lost()
        );
        let mut missed: BTreeMap<&str, usize> = BTreeMap::new();
        let mut lost: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, fate, reason) in &self.rows {
            if *fate == Fate::Lost {
                *lost.entry(reason.as_str()).or_default() += 1;
            }
        }
        for (reason, count) in lost {
            println!("  lost {count}: {reason}");
        }
        for (drawn, fate, reason) in &self.rows {
            if drawn.row.category == Category::Sensitive && *fate != Fate::Case {
                *missed.entry(drawn.row.theme.as_str()).or_default() += 1;
                println!(
                    "  missed {} ({}): {} → {reason}",
                    drawn.row.theme, drawn.row.lang, drawn.row.text
                );
            }
        }
        if !missed.is_empty() {
            println!("sensitive misses by kind: {missed:?}");
        }
        // Cases that a person did not need, by the rule that opened them: where the
        // moderators' time goes.
        let mut unneeded: BTreeMap<String, usize> = BTreeMap::new();
        for (drawn, fate, reason) in &self.rows {
            if *fate == Fate::Case && !drawn.row.category.needs_a_human() {
                let rule: String = reason.split([':', '(']).next().unwrap_or_default().into();
                *unneeded
                    .entry(format!("{} / {}", drawn.row.category.as_str(), rule.trim()))
                    .or_default() += 1;
            }
        }
        if !unneeded.is_empty() {
            println!("cases outside sensitive, support and human requests, by category / rule:");
            for (rule, count) in unneeded {
                println!("  {count:>5}  {rule}");
            }
        }
        if std::env::var_os("SURGE_VERBOSE").is_some() {
            for (drawn, fate, reason) in &self.rows {
                if *fate == Fate::Case && !drawn.row.category.needs_a_human() {
                    println!(
                        "  case {}: {} → {reason}",
                        drawn.row.category.as_str(),
                        drawn.row.text
                    );
                }
            }
        }
    }
}

fn ratio((n, total): (usize, usize)) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 / total as f64
    }
}

/// Triage alone, in-process, in crisis mode: every message from its own author.
pub fn offline(drawn: Vec<Drawn>) -> Report {
    let engine = firebreak_triage::TriageEngine::builtin();
    let context = TriageContext {
        crisis_active: true,
        ..TriageContext::default()
    };
    let mut report = Report::default();
    for d in drawn {
        let visibility = if d.private {
            Visibility::Private
        } else {
            Visibility::Public
        };
        let mut message = firebreak_triage::dry_run_message(&d.row.text, visibility);
        message.channel = Channel::parse(d.channel).unwrap_or(Channel::Web);
        message.author.id.clone_from(&d.author);
        message.author.followers = d.followers;
        let decision = engine.classify(&message, &context);
        let fate = match decision.route {
            Route::Escalate => Fate::Case,
            Route::Reply if decision.first_line.is_some() => Fate::FirstLine,
            Route::Reply => Fate::Answered,
            Route::Ignore => Fate::Ignored,
        };
        let reason = decision.reasons.first().cloned().unwrap_or_default();
        report.push(d, fate, reason);
    }
    report
}

pub struct Live {
    pub target: String,
    /// An admin token: submits, switches crisis mode, reads outcomes and insights.
    pub token: String,
    pub concurrency: usize,
    pub run_id: String,
    /// How long to wait for the last outcome.
    pub patience: Duration,
}

/// Through a live Firebreak, crisis mode on.
pub async fn live(options: Live, drawn: Vec<Drawn>) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let options = Arc::new(options);
    let response = client
        .put(format!("{}/v1/crisis", options.target))
        .bearer_auth(&options.token)
        .json(&json!({ "active": true, "reason": "surge scenario" }))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("crisis mode on: {}", response.status());
    }
    // Crisis mode reaches the classify workers through the settings watch.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let started = Instant::now();
    let submitted: Vec<anyhow::Result<(Drawn, String)>> =
        futures::stream::iter(drawn.into_iter().enumerate().map(|(i, d)| {
            let client = client.clone();
            let options = options.clone();
            async move {
                let id = submit(&client, &options, &d, i).await?;
                Ok((d, id))
            }
        }))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let submitted: Vec<(Drawn, String)> = submitted.into_iter().collect::<anyhow::Result<_>>()?;
    println!(
        "submitted {} messages in {:.1} s",
        submitted.len(),
        started.elapsed().as_secs_f64()
    );

    let deadline = Instant::now() + options.patience;
    let outcomes: Vec<(Drawn, Fate, String)> =
        futures::stream::iter(submitted.into_iter().map(|(d, id)| {
            let client = client.clone();
            let options = options.clone();
            async move {
                let (fate, reason) = outcome(&client, &options, &id, deadline).await;
                (d, fate, reason)
            }
        }))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    println!(
        "every outcome in after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut report = Report::default();
    for (d, fate, reason) in outcomes {
        report.push(d, fate, reason);
    }
    Ok(report)
}

async fn submit(
    client: &reqwest::Client,
    options: &Live,
    d: &Drawn,
    i: usize,
) -> anyhow::Result<String> {
    let body = json!({
        "channel": d.channel,
        "external_id": format!("{}-{i}", options.run_id),
        "thread_id": format!("{}-thread-{i}", options.run_id),
        "visibility": if d.private { "private" } else { "public" },
        "author": { "id": format!("{}-{}", options.run_id, d.author), "followers": d.followers },
        "text": d.row.text,
    });
    for attempt in 0..20u64 {
        let response = client
            .post(format!("{}/v1/messages", options.target))
            .bearer_auth(&options.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        if status == 429 || status == 503 {
            tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
            continue;
        }
        let value: Value = response.json().await.context("submit response")?;
        if !status.is_success() {
            bail!("submit: {status} {value}");
        }
        return value["id"]
            .as_str()
            .map(str::to_string)
            .context("submit response without an id");
    }
    bail!("submit: still refused after 20 attempts")
}

async fn outcome(
    client: &reqwest::Client,
    options: &Live,
    id: &str,
    deadline: Instant,
) -> (Fate, String) {
    let mut last_seen: Option<String> = None;
    loop {
        if let Ok(response) = client
            .get(format!("{}/v1/messages/{id}", options.target))
            .bearer_auth(&options.token)
            .send()
            .await
            && let Ok(record) = response.json::<Value>().await
        {
            let reason = record["classification"]["reasons"][0]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let first_line = record["classification"]["first_line"].is_string();
            match record["status"].as_str() {
                Some("escalated") => return (Fate::Case, reason),
                Some("replied") if first_line => return (Fate::FirstLine, reason),
                Some("replied") => return (Fate::Answered, reason),
                Some("ignored") => {
                    let why = record["outcome"]["reason"].as_str().unwrap_or_default();
                    return (Fate::Ignored, format!("{why}; {reason}"));
                }
                Some("dead_lettered") => return (Fate::Lost, "dead-lettered".into()),
                status => {
                    last_seen = Some(format!(
                        "status {}, route {}, {}",
                        status.unwrap_or("unknown"),
                        record["classification"]["route"].as_str().unwrap_or("-"),
                        record["channel"].as_str().unwrap_or("-")
                    ));
                }
            }
        }
        if Instant::now() > deadline {
            let last = last_seen.unwrap_or_default();
            return (Fate::Lost, format!("no outcome in time ({last})"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints the insights a crisis team would read after the surge.
pub async fn print_insights(target: &str, token: &str) -> anyhow::Result<Value> {
    let value: Value = reqwest::Client::new()
        .get(format!("{target}/v1/insights"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("== insights\n{}", serde_json::to_string_pretty(&value)?);
    Ok(value)
}
