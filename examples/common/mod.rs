//! What the example benchmarks share: the window count and percentiles.

use std::time::{Duration, Instant};

/// Most of these (sorted) instants in any window [t, t + 1 s).
pub fn max_in_any_second(times: &[Instant]) -> usize {
    let (mut best, mut start) = (0, 0);
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// The `p`th percentile of `sorted` (zero when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
