//! `surge-proof`: the standard surge on a local multi-process cluster, and the report.
//!
//! In order, on one cluster: the surge itself (phases, mix, both ingest paths, the
//! watcher and the fake platform recording); a capacity run (messages as fast as
//! ingest takes them, timed to the last outcome); one short run per route (replied,
//! escalated) between two `INFO commandstats` readings; raw JetStream on the same
//! nats-server; the triage alone in-process. Then every process's peak memory, a
//! clean stop, and the report as JSON, an SVG chart and a table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use firebreak_core::{Channel, Stage};
use serde::Serialize;

use crate::cluster::{Cluster, ClusterOptions};
use crate::drive::{self, Shape, Target};
use crate::fake_platform::FakePlatform;
use crate::measure::{self, BudgetCheck, RunFigures, RunRecords, Second};
use crate::plan::{self, Planned};
use crate::raw_bus::{self, RawBus};
use crate::scenario::{Category, Row};
use crate::surge_scenario::SurgeScenario;
use crate::triage_alone::{self, TriageAlone};
use crate::watch::Watcher;
use crate::{charts, harness_playbook, outcomes, redis_stats, targets};

pub struct Options {
    pub scenario: PathBuf,
    pub firebreak: PathBuf,
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct Capacity {
    pub messages: usize,
    /// Accepted per second, first send to last ack.
    pub ingest_per_sec: f64,
    /// Finished per second, first send to last outcome.
    pub end_to_end_per_sec: f64,
    pub lost: usize,
    pub e2e_ms: measure::Quantiles,
    /// CPU time each process spent on the run, in milliseconds per accepted message
    /// (user + system, from `/proc/PID/stat`), the harness itself as `load-generator`:
    /// where the end-to-end capacity goes.
    pub cpu_ms_per_message: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
pub struct RouteTrips {
    pub route: String,
    pub messages: usize,
    /// Messages of the run that took the route.
    pub on_route: usize,
    pub calls: u64,
    /// Background calls (pollers, samplers) over the same time, subtracted.
    pub background_calls: f64,
    pub per_message: f64,
    pub busiest: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: SurgeScenario,
    pub machine: BTreeMap<String, String>,
    pub surge: RunFigures,
    pub capacity: Option<Capacity>,
    pub routes: Vec<RouteTrips>,
    pub raw_bus: Option<RawBus>,
    pub triage_alone: Option<TriageAlone>,
    pub pipeline_over_bus: Option<f64>,
    pub pipeline_over_triage: Option<f64>,
    pub peak_rss_mb: BTreeMap<String, f64>,
    pub exits: Vec<(String, String)>,
    pub targets: Vec<targets::Check>,
    pub seconds: Vec<Second>,
}

/// Everything one surge-proof run needs at hand.
struct Bench {
    scenario: SurgeScenario,
    rows: Vec<Row>,
    cluster: Cluster,
    platform: FakePlatform,
    js: async_nats::jetstream::Context,
    target: Target,
    out: PathBuf,
}

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let (scenario, texts) = SurgeScenario::load(&options.scenario)?;
    let rows = crate::scenario::load(&texts)?;
    std::fs::create_dir_all(&options.out)?;
    let playbook_path = options.out.join("playbook.yaml");
    let playbook = harness_playbook::write(&scenario.budgets, &playbook_path)?;
    let mut machine = machine_state();
    let platform = FakePlatform::start().await?;
    let cluster = Cluster::start(&ClusterOptions {
        firebreak: options.firebreak.clone(),
        playbook: playbook_path,
        classify: scenario.cluster.classify,
        reply: scenario.cluster.reply,
        platform: platform.url.clone(),
    })
    .await?;
    eprintln!(
        "cluster up: {} processes, logs in {}",
        cluster.roles.len(),
        cluster.log_dir().display()
    );
    let js = async_nats::jetstream::new(async_nats::connect(&cluster.nats_url).await?);
    let target = Target {
        grpc: cluster.role("ingest").grpc.clone(),
        http: cluster.role("ingest").http.clone(),
        token: cluster.token.clone(),
        telegram_secret: cluster.telegram_secret.clone(),
    };
    let bench = Bench {
        scenario,
        rows,
        cluster,
        platform,
        js,
        target,
        out: options.out.clone(),
    };
    let result = measure_all(&bench, playbook).await;
    if result.is_err() {
        for role in &bench.cluster.roles {
            eprintln!(
                "--- {} log tail\n{}",
                role.name,
                bench.cluster.log_tail(&role.name, 15)
            );
        }
    }
    let exits = bench.cluster.stop().await?;
    let mut report = result?;
    report.exits = exits;
    machine.extend(
        machine_state()
            .into_iter()
            .filter(|(k, _)| k == "load_average")
            .map(|(_, v)| ("load_average_after".to_string(), v)),
    );
    report.machine = machine;
    report.targets = targets::evaluate(&report);
    std::fs::write(
        options.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

async fn measure_all(
    bench: &Bench,
    playbook: firebreak_triage::Playbook,
) -> anyhow::Result<Report> {
    crisis_on(&bench.cluster).await?;
    let (surge, seconds, p1_points, planned) = the_surge(bench).await?;
    let capacity = capacity(bench).await?;
    let routes = routes(bench).await?;
    let raw_bus = match bench.scenario.yardsticks.raw_bus_messages {
        0 => None,
        n => {
            let size = raw_bus::message_size(&planned);
            eprintln!("raw JetStream: {n} messages of {size} bytes");
            Some(raw_bus::measure(&bench.cluster.nats_url, n, size).await?)
        }
    };
    let triage_alone = match bench.scenario.yardsticks.triage_messages {
        0 => None,
        n => {
            eprintln!("triage alone: {n} messages");
            Some(
                tokio::task::spawn_blocking(move || triage_alone::measure(playbook, &planned, n))
                    .await?,
            )
        }
    };
    let peak_rss_mb = bench
        .cluster
        .pids()
        .into_iter()
        .filter_map(|(name, pid)| Some((name, peak_rss_mb(pid)?)))
        .collect();
    let pipeline = capacity
        .as_ref()
        .map(|c| c.end_to_end_per_sec)
        .unwrap_or(surge.accepted as f64 / surge.elapsed_secs.max(0.001));
    let chart = charts::ChartData {
        title: &format!("Firebreak surge proof: {}", bench.scenario.name),
        seconds: &seconds,
        budgets: bench
            .scenario
            .budgets
            .per_channel_per_sec
            .iter()
            .map(|(c, b)| (c.clone(), *b))
            .collect(),
        p1: p1_points,
    };
    charts::write(&bench.out.join("surge.svg"), &chart)?;
    Ok(Report {
        scenario: bench.scenario.clone(),
        machine: BTreeMap::new(),
        pipeline_over_bus: raw_bus.map(|b| pipeline / b.publish_per_sec),
        pipeline_over_triage: triage_alone.map(|t| pipeline / t.per_sec),
        surge,
        capacity,
        routes,
        raw_bus,
        triage_alone,
        peak_rss_mb,
        exits: Vec::new(),
        targets: Vec::new(),
        seconds,
    })
}

/// Messages ingest sent down the urgent lane, per hint kind, from its metrics.
async fn urgent_lane(cluster: &Cluster) -> anyhow::Result<BTreeMap<String, u64>> {
    let body = reqwest::Client::new()
        .get(format!("{}/metrics", cluster.role("ingest").http))
        .bearer_auth(&cluster.token)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(body
        .lines()
        .filter_map(|line| line.strip_prefix("firebreak_ingest_urgent_total{kind=\""))
        .filter_map(|rest| {
            let (kind, value) = rest.split_once("\"}")?;
            Some((kind.to_string(), value.trim().parse::<f64>().ok()? as u64))
        })
        .collect())
}

async fn crisis_on(cluster: &Cluster) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .put(format!("{}/v1/crisis", cluster.role("control").http))
        .bearer_auth(&cluster.token)
        .json(&serde_json::json!({ "active": true, "reason": "surge proof" }))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "crisis mode on: {}",
        response.status()
    );
    // Every role follows the control bucket; give the watches a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

type SurgeResult = (RunFigures, Vec<Second>, Vec<(f64, f64)>, Vec<Planned>);

async fn the_surge(bench: &Bench) -> anyhow::Result<SurgeResult> {
    let s = &bench.scenario;
    let watcher = Watcher::start(&bench.cluster.role("escalation").grpc, &bench.cluster.token)
        .await
        .context("opening Moderation/Watch")?;
    let planned = Arc::new(plan::plan(s, &bench.rows, 1));
    eprintln!(
        "surge {}: {} messages over {:.0} s",
        s.name,
        planned.len(),
        s.duration_secs()
    );
    let shape = Shape {
        grpc_streams: s.ingest.grpc_streams,
        window: s.ingest.window,
        webhook_concurrency: s.ingest.webhook_concurrency,
        paced: true,
    };
    let (sent, started_ms) = drive::drive(&bench.target, &shape, planned.clone()).await?;
    eprintln!("surge sent; waiting for the pipeline to drain");
    let patience = Duration::from_secs(s.patience_secs);
    outcomes::wait_drained(&bench.js, patience, |_| {}).await?;
    let accepted = measure::accepted_at(&planned, &sent);
    let endings = outcomes::collect(
        &bench.target.http,
        &bench.cluster.token,
        accepted.keys().copied().collect(),
        patience,
    )
    .await?;
    // Cases of the last messages reach the watcher within moments of their outcome.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = watcher.seen();
    let p1_cases = watcher.p1_cases();
    let sends = bench.platform.sends();
    let records = RunRecords {
        plan: &planned,
        sent: &sent,
        endings: &endings,
        seen: &seen,
        p1_cases: &p1_cases,
        sends: &sends,
        started_ms,
        peak: s.peak_window(),
    };
    let (mut figures, seconds) = measure::figures(&records);
    figures.budgets = measure::budget_checks(&sends, &s.budgets);
    figures.urgent_lane = urgent_lane(&bench.cluster).await.unwrap_or_else(|e| {
        eprintln!("could not read ingest's urgent-lane counts: {e}");
        Default::default()
    });
    let p1_points = measure::p1_case_latencies(&p1_cases, &accepted)
        .into_iter()
        .map(|(at, ms)| ((at - started_ms) / 1000.0, ms))
        .collect();
    let planned = Arc::try_unwrap(planned).unwrap_or_else(|p| (*p).clone());
    Ok((figures, seconds, p1_points, planned))
}

/// Sends `planned` as fast as the windows allow and waits for every outcome. Returns
/// the figures, and the unix ms of the first send and the last ack.
async fn unpaced(
    bench: &Bench,
    planned: Vec<Planned>,
) -> anyhow::Result<(RunFigures, f64, f64, Vec<Planned>)> {
    let s = &bench.scenario;
    let planned = Arc::new(planned);
    let shape = Shape {
        grpc_streams: s.ingest.grpc_streams,
        window: s.ingest.window,
        webhook_concurrency: s.ingest.webhook_concurrency,
        paced: false,
    };
    let (sent, started_ms) = drive::drive(&bench.target, &shape, planned.clone()).await?;
    let last_ack = sent
        .iter()
        .filter_map(|s| s.acked_ms)
        .fold(started_ms, f64::max);
    let patience = Duration::from_secs(s.patience_secs);
    outcomes::wait_drained(&bench.js, patience, |_| {}).await?;
    let accepted = measure::accepted_at(&planned, &sent);
    let endings = outcomes::collect(
        &bench.target.http,
        &bench.cluster.token,
        accepted.keys().copied().collect(),
        patience,
    )
    .await?;
    let records = RunRecords {
        plan: &planned,
        sent: &sent,
        endings: &endings,
        seen: &Default::default(),
        p1_cases: &[],
        sends: &[],
        started_ms,
        peak: (0.0, 0.0),
    };
    let (figures, _) = measure::figures(&records);
    let planned = Arc::try_unwrap(planned).unwrap_or_else(|p| (*p).clone());
    Ok((figures, started_ms, last_ack, planned))
}

async fn capacity(bench: &Bench) -> anyhow::Result<Option<Capacity>> {
    let n = bench.scenario.yardsticks.capacity_messages;
    if n == 0 {
        return Ok(None);
    }
    eprintln!("capacity: {n} messages as fast as ingest takes them");
    let planned = plan::burst(&bench.scenario, &bench.rows, 2, n);
    let cpu_before = cpu_times(bench);
    let (f, started_ms, last_ack, _) = unpaced(bench, planned).await?;
    let cpu_after = cpu_times(bench);
    let cpu_ms_per_message = cpu_after
        .into_iter()
        .filter_map(|(name, after)| {
            let before = cpu_before.get(&name)?;
            Some((name, (after - before) * 1000.0 / f.accepted.max(1) as f64))
        })
        .collect();
    Ok(Some(Capacity {
        messages: f.accepted,
        ingest_per_sec: f.accepted as f64 / ((last_ack - started_ms) / 1000.0).max(0.001),
        end_to_end_per_sec: f.accepted as f64 / f.elapsed_secs.max(0.001),
        lost: f.lost,
        e2e_ms: f.e2e_ms,
        cpu_ms_per_message,
    }))
}

/// CPU seconds (user + system) each process of the cluster, and the harness, has used.
fn cpu_times(bench: &Bench) -> BTreeMap<String, f64> {
    let mut pids = bench.cluster.pids();
    pids.push(("load-generator".to_string(), std::process::id()));
    pids.into_iter()
        .filter_map(|(name, pid)| Some((name, cpu_seconds(pid)?)))
        .collect()
}

/// Fields 14 and 15 of `/proc/PID/stat` (utime, stime), in clock ticks of 1/100 s on
/// Linux; the command name (field 2) may hold spaces, so fields count from its `)`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

async fn routes(bench: &Bench) -> anyhow::Result<Vec<RouteTrips>> {
    let n = bench.scenario.yardsticks.route_messages;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (run, route, category, stage) in [
        (3, "replied", Category::KeyQuestion, Stage::Replied),
        (4, "escalated", Category::Sensitive, Stage::Escalated),
    ] {
        eprintln!("route {route}: {n} messages between two INFO commandstats");
        let url = &bench.cluster.redis_url;
        let idle_from = redis_stats::read(url).await?;
        let idle_clock = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle = redis_stats::read(url).await?;
        let idle_rate =
            own_calls(&idle.since(&idle_from)) as f64 / idle_clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let planned = plan::route(&bench.rows, category, Channel::Messenger, run, n);
        let (f, ..) = unpaced(bench, planned).await?;
        let after = redis_stats::read(url).await?;
        let delta = after.since(&idle);
        let calls = own_calls(&delta);
        let background = idle_rate * clock.elapsed().as_secs_f64();
        out.push(RouteTrips {
            route: route.to_string(),
            messages: f.accepted,
            on_route: f.outcomes.get(stage.as_str()).copied().unwrap_or(0),
            calls,
            background_calls: background,
            per_message: (calls as f64 - background).max(0.0) / f.accepted.max(1) as f64,
            busiest: delta.into_iter().take(8).collect(),
        });
    }
    Ok(out)
}

/// Calls other than the harness's own `INFO` readings.
fn own_calls(delta: &[(String, u64)]) -> u64 {
    delta
        .iter()
        .filter(|(c, _)| c != "info")
        .map(|(_, n)| n)
        .sum()
}

/// The `firebreak` binary built beside this one (`target/release/firebreak` for
/// `target/release/firebreak-load`).
pub fn sibling_firebreak() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .context("the running binary has no directory")?;
    // A test binary lives one level down, in `deps/`.
    [dir.join("firebreak"), dir.join("../firebreak")]
        .into_iter()
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no firebreak binary beside {}: build it (cargo build --release -p firebreak) or pass --firebreak",
                exe.display()
            )
        })
}

/// VmHWM: the most resident memory the process ever had, in MB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn machine_state() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    m.insert(
        "cores".into(),
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    m.insert(
        "load_average".into(),
        read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    m.insert(
        "date".into(),
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    );
    m
}

/// The budget checks that failed, for the summary.
pub fn over_budget(checks: &[BudgetCheck]) -> Vec<&BudgetCheck> {
    checks.iter().filter(|c| !c.within).collect()
}
