//! `GET /metrics` (CONTRACT §2, extension): Prometheus text, kept by hand so that a
//! request costs one short lock and a few additions. Labels are route templates,
//! never raw paths (which may carry user ids).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Debug, Default)]
struct Latency {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) → latency histogram.
    latency: Mutex<BTreeMap<(String, String), Latency>>,
    /// Open WebSocket sessions, authenticated or not.
    pub ws_sessions: AtomicI64,
    /// Feed messages sent, over all sessions.
    pub feed_messages: AtomicU64,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, took: Duration) {
        let key = (method.to_owned(), route.to_owned());
        {
            let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *requests
                .entry((key.0.clone(), key.1.clone(), status))
                .or_default() += 1;
        }
        let seconds = took.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let entry = latency.entry(key).or_default();
        entry.count += 1;
        entry.sum += seconds;
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    fn render(&self, authenticated_ws: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP onboard_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE onboard_http_requests_total counter\n");
        for ((method, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "onboard_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP onboard_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE onboard_http_request_duration_seconds histogram\n");
        for ((method, route), l) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(l.buckets) {
                let _ = writeln!(
                    out,
                    "onboard_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "onboard_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                l.count
            );
            let _ = writeln!(
                out,
                "onboard_http_request_duration_seconds_sum{{{labels}}} {}",
                l.sum
            );
            let _ = writeln!(
                out,
                "onboard_http_request_duration_seconds_count{{{labels}}} {}",
                l.count
            );
        }
        let sessions = self.ws_sessions.load(Ordering::Relaxed);
        let sent = self.feed_messages.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "# HELP onboard_ws_sessions Open WebSocket connections.\n\
             # TYPE onboard_ws_sessions gauge\n\
             onboard_ws_sessions {sessions}\n\
             # HELP onboard_ws_authenticated Authenticated WebSocket connections.\n\
             # TYPE onboard_ws_authenticated gauge\n\
             onboard_ws_authenticated {authenticated_ws}\n\
             # HELP onboard_feed_messages_total Feed messages sent.\n\
             # TYPE onboard_feed_messages_total counter\n\
             onboard_feed_messages_total {sent}\n"
        );
        out
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let authenticated = state.feed.connections.total();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.feed.metrics.render(authenticated),
    )
}
