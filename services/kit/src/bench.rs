//! Small helpers the services' benchmarks share: env knobs, where their data
//! lives, and throughput / latency figures. Benchmarks print figures; they
//! assert nothing.

use std::path::PathBuf;
use std::time::Duration;

/// An env knob, or `default` when unset or unparsable.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `<target dir>/<name>`: benchmark data dirs live on the target's disk.
pub fn root(name: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join(name)
}

/// The `p` quantile (0..=1) of sorted latencies, in milliseconds.
pub fn quantile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// Throughput and latency of one workload.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Operations completed.
    pub count: usize,
    /// Operations per second of wall time.
    pub per_sec: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

impl Figures {
    /// The figures of `latencies` (one per operation) over `elapsed`.
    pub fn of(mut latencies: Vec<Duration>, elapsed: Duration) -> Self {
        latencies.sort();
        Self {
            count: latencies.len(),
            per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: quantile_ms(&latencies, 0.5),
            p99_ms: quantile_ms(&latencies, 0.99),
        }
    }

    /// `"<n> <unit>/s, p50 <ms> ms, p99 <ms> ms (<count> in all)"`.
    pub fn line(&self, unit: &str) -> String {
        format!(
            "{:.1} {unit}/s, p50 {:.2} ms, p99 {:.2} ms ({} in all)",
            self.per_sec, self.p50_ms, self.p99_ms, self.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_series() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let f = Figures::of(ms, Duration::from_secs(2));
        assert_eq!(f.count, 100);
        assert_eq!(f.per_sec, 50.0);
        assert_eq!((f.p50_ms.round(), f.p99_ms.round()), (51.0, 99.0));
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
