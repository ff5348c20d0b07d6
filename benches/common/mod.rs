//! Load generation and reporting shared by the benchmarks.

use std::time::{Duration, Instant};

/// Requests in flight at once.
pub const CONCURRENCY: usize = 16;

/// Sends `total` requests, `CONCURRENCY` at a time; returns each latency and the wall time.
pub async fn run<F>(total: usize, make: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    use futures_util::stream::{self, StreamExt};
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..total)
        .map(|i| {
            let request = make(i);
            async move {
                let t = Instant::now();
                let response = request.send().await.expect("request");
                assert!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                let _ = response.bytes().await;
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    (latencies, started.elapsed())
}

pub fn report(name: &str, (latencies, wall): &(Vec<Duration>, Duration)) {
    let mut sorted = latencies.clone();
    sorted.sort();
    let pct = |p: f64| {
        sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)].as_secs_f64() * 1000.0
    };
    println!(
        "{name}: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (concurrency {CONCURRENCY})",
        sorted.len(),
        sorted.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
}
