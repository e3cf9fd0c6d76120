//! How big each scenario runs: `full` is what the targets are set for, `tiny` is the CI
//! smoke test (every code path, a few seconds in a debug build).

use std::time::Duration;

use clap::ValueEnum;

use crate::driver::Load;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Size {
    Tiny,
    Full,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub size: Size,
    /// Stored users for get-user.
    pub users: u64,
    /// Stored users for each list-users measurement, growing.
    pub list_sizes: Vec<u64>,
    /// Every request-loop measurement: concurrency, count and time bounds.
    pub load: Load,
    /// Unmeasured requests before each measurement, bounded in time.
    pub warmup: Duration,
    /// Registrations for the register scenario (same concurrency, time bound).
    pub registrations: u64,
    /// Subscriber counts for feed-latency, and registrations measured at each.
    pub latency_subscribers: Vec<usize>,
    pub latency_samples: u64,
    pub fanout_subscribers: usize,
    /// How long registrations are driven in feed-fanout.
    pub fanout_time: Duration,
    /// How long subscribers may take to catch up once the registrations stop.
    pub drain: Duration,
    pub idle_connections: usize,
    /// WebSocket handshakes in flight while connecting subscribers.
    pub connect_in_flight: usize,
}

impl Plan {
    pub fn new(size: Size) -> Plan {
        match size {
            Size::Full => Plan {
                size,
                users: 100_000,
                list_sizes: vec![100_000, 1_000_000],
                load: Load {
                    concurrency: 64,
                    max_requests: 300_000,
                    max_time: Duration::from_secs(15),
                },
                warmup: Duration::from_secs(2),
                registrations: 20_000,
                latency_subscribers: vec![1, 100, 1000],
                latency_samples: 200,
                fanout_subscribers: 1000,
                fanout_time: Duration::from_secs(10),
                drain: Duration::from_secs(60),
                idle_connections: 10_000,
                connect_in_flight: 128,
            },
            Size::Tiny => Plan {
                size,
                users: 200,
                list_sizes: vec![200, 400],
                load: Load {
                    concurrency: 8,
                    max_requests: 300,
                    max_time: Duration::from_secs(2),
                },
                warmup: Duration::from_millis(100),
                registrations: 40,
                latency_subscribers: vec![1, 5],
                latency_samples: 5,
                fanout_subscribers: 5,
                fanout_time: Duration::from_millis(500),
                drain: Duration::from_secs(10),
                idle_connections: 50,
                connect_in_flight: 16,
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self.size {
            Size::Tiny => "tiny",
            Size::Full => "full",
        }
    }

    /// The load of a warm-up: same concurrency, bounded by `warmup`.
    pub fn warmup_load(&self) -> Load {
        Load {
            max_time: self.warmup,
            ..self.load
        }
    }

    /// The load of the register scenario.
    pub fn register_load(&self) -> Load {
        Load {
            max_requests: self.registrations,
            ..self.load
        }
    }
}
