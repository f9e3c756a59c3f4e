//! Latency histograms and the summary every scenario prints.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Microsecond latencies from 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, latency: Duration) {
    let micros = (latency.as_micros() as u64).clamp(1, 60_000_000);
    // Clamped into bounds, so recording cannot fail.
    let _ = h.record(micros);
}

#[derive(Debug, Default)]
pub struct Counts {
    pub accepted: u64,
    pub duplicates: u64,
    pub errors: u64,
}

pub fn print(scenario: &str, counts: &Counts, elapsed: Duration, h: &Histogram<u64>) {
    let total = counts.accepted + counts.duplicates;
    let rate = total as f64 / elapsed.as_secs_f64();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!("scenario      {scenario}");
    println!(
        "acked         {total} ({} new, {} duplicate), {} errors",
        counts.accepted, counts.duplicates, counts.errors
    );
    println!("elapsed       {:.2} s", elapsed.as_secs_f64());
    println!("throughput    {rate:.0} msg/s");
    println!(
        "latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0
    );
}
