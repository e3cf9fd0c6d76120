//! Latency samples and their percentiles: a sorted `Vec` is exact and, at the
//! sizes measured here (at most a few hundred thousand samples), cheap enough.

use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
    sorted: bool,
}

impl Latencies {
    pub fn with_capacity(n: usize) -> Self {
        Latencies {
            samples: Vec::with_capacity(n),
            sorted: false,
        }
    }

    pub fn push(&mut self, sample: Duration) {
        self.samples.push(sample);
        self.sorted = false;
    }

    pub fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `p`-th percentile (0–100) by nearest rank; zero when there are no samples.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        self.samples[rank.clamp(1, self.samples.len()) - 1]
    }

    pub fn p50_ms(&mut self) -> f64 {
        ms(self.percentile(50.0))
    }

    pub fn p99_ms(&mut self) -> f64 {
        ms(self.percentile(99.0))
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut l = Latencies::default();
        for i in (1..=100).rev() {
            l.push(Duration::from_millis(i));
        }
        assert_eq!(l.percentile(50.0), Duration::from_millis(50));
        assert_eq!(l.percentile(99.0), Duration::from_millis(99));
        assert_eq!(l.percentile(100.0), Duration::from_millis(100));
    }

    #[test]
    fn no_samples_read_as_zero() {
        assert_eq!(Latencies::default().percentile(99.0), Duration::ZERO);
    }
}
