//! The report's chart: one SVG with four panels over the seconds of the surge —
//! throughput in and out with the backlog, end-to-end latency, replies per channel
//! against their budgets, and each P1 case's delivery to the watcher.

use std::collections::BTreeSet;
use std::path::Path;

use plotters::prelude::*;

use crate::measure::Second;

pub struct ChartData<'a> {
    pub title: &'a str,
    pub seconds: &'a [Second],
    /// Budgets per channel (replies per second) drawn as dashed lines.
    pub budgets: Vec<(String, f64)>,
    /// (seconds into the run when accepted, ms until the watcher saw its case).
    pub p1: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub fn write(path: &Path, data: &ChartData<'_>) -> anyhow::Result<()> {
    draw(path, data).map_err(|e| anyhow::anyhow!("chart {}: {e}", path.display()))
}

fn draw(path: &Path, data: &ChartData<'_>) -> Result<()> {
    let root = SVGBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(data.title, ("sans-serif", 22))?;
    let panels = root.split_evenly((2, 2));
    let end = data.seconds.len().max(1) as f64;
    throughput(&panels[0], data, end)?;
    latency(&panels[1], data, end)?;
    replies(&panels[2], data, end)?;
    p1(&panels[3], data, end)?;
    root.present()?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn throughput(area: &Area<'_>, data: &ChartData<'_>, end: f64) -> Result<()> {
    let top = data
        .seconds
        .iter()
        .map(|s| s.accepted.max(s.finished) as f64)
        .chain(data.seconds.iter().map(|s| s.backlog as f64))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("messages per second, and backlog", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..top * 1.05)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    for (label, color, value) in [
        ("accepted", PALETTE[0], 0usize),
        ("finished", PALETTE[1], 1),
        ("backlog", PALETTE[3], 2),
    ] {
        let points = data.seconds.iter().map(|s| {
            let y = match value {
                0 => s.accepted as f64,
                1 => s.finished as f64,
                _ => s.backlog as f64,
            };
            (f64::from(s.t), y)
        });
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn latency(area: &Area<'_>, data: &ChartData<'_>, end: f64) -> Result<()> {
    let top = data
        .seconds
        .iter()
        .map(|s| s.e2e_p99_ms)
        .fold(10.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "end-to-end latency (accepted → outcome), ms",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, (1f64..top * 1.5).log_scale())?;
    chart.configure_mesh().x_desc("second accepted").draw()?;
    for (label, color, p99) in [("p50", PALETTE[0], false), ("p99", PALETTE[3], true)] {
        let points = data.seconds.iter().filter(|s| s.e2e_p99_ms > 0.0).map(|s| {
            let y = if p99 { s.e2e_p99_ms } else { s.e2e_p50_ms };
            (f64::from(s.t), y.max(1.0))
        });
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn replies(area: &Area<'_>, data: &ChartData<'_>, end: f64) -> Result<()> {
    let channels: BTreeSet<&String> = data.seconds.iter().flat_map(|s| s.replies.keys()).collect();
    let top = data
        .seconds
        .iter()
        .flat_map(|s| s.replies.values())
        .copied()
        .max()
        .unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "replies per second per channel (dashed: budget)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..top * 1.2)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    for (i, channel) in channels.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = data
            .seconds
            .iter()
            .map(|s| (f64::from(s.t), *s.replies.get(channel).unwrap_or(&0) as f64));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(channel.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        if let Some((_, budget)) = data.budgets.iter().find(|(c, _)| c == channel)
            && *budget <= top * 1.2
        {
            chart.draw_series(DashedLineSeries::new(
                [(0.0, *budget), (end, *budget)],
                6,
                4,
                color.stroke_width(1),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn p1(area: &Area<'_>, data: &ChartData<'_>, end: f64) -> Result<()> {
    let top = data.p1.iter().map(|(_, ms)| *ms).fold(300.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "P1 cases: slowest of each second, accepted → seen by the watcher, ms (dashed: 250 ms)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..top * 1.1)?;
    chart.configure_mesh().x_desc("second accepted").draw()?;
    // The slowest P1 of each second, not every case: a surge files thousands, and one
    // circle each made a chart of megabytes that showed no more than this does.
    let mut slowest = std::collections::BTreeMap::<u64, f64>::new();
    for (t, ms) in &data.p1 {
        let worst = slowest.entry(t.max(0.0) as u64).or_insert(0.0);
        *worst = worst.max(*ms);
    }
    chart.draw_series(
        slowest
            .into_iter()
            .map(|(t, ms)| Circle::new((t as f64, ms), 3, PALETTE[3].filled())),
    )?;
    chart.draw_series(DashedLineSeries::new(
        [(0.0, 250.0), (end, 250.0)],
        6,
        4,
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}
