//! What both benchmarks measure with (`benches/rpc.rs`,
//! `gateway/benches/fleet.rs`): duration samples and their percentiles, and
//! the line that says which machine and load the figures come from.

#![allow(dead_code)] // each benchmark uses part of it

use std::time::Duration;

/// Durations in nanoseconds, summarized by percentiles.
#[derive(Default)]
pub struct Samples(pub Vec<u64>);

impl Samples {
    pub fn push(&mut self, elapsed: Duration) {
        self.0
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// The `p`-th percentile in nanoseconds (nearest rank).
    pub fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1] as f64
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().max().map_or(f64::NAN, |m| m as f64)
    }
}

/// "`name`: quick|full mode, N CPUs, load average a b c": the first line of
/// a benchmark's output (the machines are shared; figures need their load).
pub fn banner(name: &str, quick: bool) -> String {
    format!(
        "{name}: {} mode, {} CPUs, load average {}",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into()),
    )
}
