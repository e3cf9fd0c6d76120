//! `GET /metrics` (CONTRACT §2, extension): Prometheus text, kept by hand so that a
//! request costs a shared read lock and a few atomic additions. Labels are route
//! templates, never raw paths (which may carry user ids), and bounded (CONTRACT
//! §11): unknown methods count as `OTHER`, unmatched paths as `unmatched`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The methods counted under their own name; any other counts as `OTHER`, so a
/// client inventing methods cannot grow the label set.
const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
];

/// The route label of a request no route matched: one label, whatever the path.
pub const UNMATCHED: &str = "unmatched";

/// The label of a request method.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

/// One (method, route) series: counts per status and a latency histogram, all
/// atomics, so that recording and rendering never wait for each other.
#[derive(Debug, Default)]
struct Series {
    /// (status, requests); statuses are few, and the list only grows.
    statuses: RwLock<Vec<(u16, Arc<AtomicU64>)>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Total latency in nanoseconds.
    nanos: AtomicU64,
}

impl Series {
    fn status(&self, status: u16) -> Arc<AtomicU64> {
        if let Some((_, n)) = read(&self.statuses).iter().find(|(s, _)| *s == status) {
            return n.clone();
        }
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = statuses.iter().find(|(s, _)| *s == status) {
            return n.clone();
        }
        let n = Arc::new(AtomicU64::new(0));
        statuses.push((status, n.clone()));
        statuses.sort_by_key(|(s, _)| *s);
        n
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route) → its series. Routes are templates of the route table or
    /// [`UNMATCHED`], methods are [`METHODS`] or `OTHER`: the map is bounded.
    series: RwLock<BTreeMap<(&'static str, String), Arc<Series>>>,
    /// Open WebSocket sessions, authenticated or not.
    pub ws_sessions: AtomicI64,
    /// Feed messages sent, over all sessions.
    pub feed_messages: AtomicU64,
    /// Open HTTP connections (WebSockets included).
    pub connections_open: AtomicI64,
    /// Connections refused because the node was at its cap.
    pub connections_refused: AtomicU64,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, took: Duration) {
        let series = self.series(method_label(method), route);
        series.status(status).fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        series.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        series.nanos.fetch_add(nanos, Ordering::Relaxed);
        for (bucket, bound) in series.buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn series(&self, method: &'static str, route: &str) -> Arc<Series> {
        let key = (method, route.to_owned());
        if let Some(series) = read(&self.series).get(&key) {
            return series.clone();
        }
        let mut all = self.series.write().unwrap_or_else(|e| e.into_inner());
        all.entry(key).or_default().clone()
    }

    pub fn render(&self, authenticated_ws: usize) -> String {
        // A copy of the handles, taken under a read lock that recording shares:
        // the text is written with no lock held.
        let series: Vec<((&'static str, String), Arc<Series>)> = read(&self.series)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = String::new();
        out.push_str("# HELP onboard_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE onboard_http_requests_total counter\n");
        for ((method, route), s) in &series {
            let statuses: Vec<(u16, u64)> = read(&s.statuses)
                .iter()
                .map(|(status, n)| (*status, n.load(Ordering::Relaxed)))
                .collect();
            for (status, n) in statuses {
                let _ = writeln!(
                    out,
                    "onboard_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP onboard_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE onboard_http_request_duration_seconds histogram\n");
        for ((method, route), s) in &series {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(&s.buckets) {
                let n = n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "onboard_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let count = s.count.load(Ordering::Relaxed);
            let sum = s.nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "onboard_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "onboard_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "onboard_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        let sessions = self.ws_sessions.load(Ordering::Relaxed);
        let sent = self.feed_messages.load(Ordering::Relaxed);
        let open = self.connections_open.load(Ordering::Relaxed);
        let refused = self.connections_refused.load(Ordering::Relaxed);
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
             onboard_feed_messages_total {sent}\n\
             # HELP onboard_http_connections Open HTTP connections, WebSockets included.\n\
             # TYPE onboard_http_connections gauge\n\
             onboard_http_connections {open}\n\
             # HELP onboard_http_connections_refused_total Connections refused at the connection cap.\n\
             # TYPE onboard_http_connections_refused_total counter\n\
             onboard_http_connections_refused_total {refused}\n"
        );
        out
    }
}

/// The webhook series: attempts of this node by outcome; across every enabled
/// endpoint, the events not yet handled, how many endpoints are behind and the
/// age of the oldest undelivered event (left out when the database cannot say).
/// `/metrics` needs no key, so no series names an endpoint: an endpoint's id
/// belongs to its enterprise, whose deliveries list says how it fares.
pub fn render_webhooks(
    out: &mut String,
    counts: &onboard_core::webhooks::DeliveryCounts,
    backlog: Option<&[onboard_core::webhooks::Backlog]>,
    now: time::OffsetDateTime,
) {
    out.push_str("# HELP onboard_webhook_attempts_total Webhook attempts made by this node.\n");
    out.push_str("# TYPE onboard_webhook_attempts_total counter\n");
    for (outcome, n) in [
        ("succeeded", &counts.succeeded),
        ("pending", &counts.pending),
        ("failed", &counts.failed),
    ] {
        let n = n.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "onboard_webhook_attempts_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    let Some(backlog) = backlog else { return };
    let depth: i64 = backlog.iter().map(|b| b.depth).sum();
    let behind = backlog.iter().filter(|b| b.depth > 0).count();
    let oldest = backlog
        .iter()
        .filter_map(|b| b.oldest)
        .map(|at| (now - at).as_seconds_f64().max(0.0))
        .fold(0.0, f64::max);
    let _ = write!(
        out,
        "# HELP onboard_webhook_queue_depth Events the enabled endpoints have yet to handle, all together.\n\
         # TYPE onboard_webhook_queue_depth gauge\n\
         onboard_webhook_queue_depth {depth}\n\
         # HELP onboard_webhook_endpoints_behind Enabled endpoints with events yet to handle.\n\
         # TYPE onboard_webhook_endpoints_behind gauge\n\
         onboard_webhook_endpoints_behind {behind}\n\
         # HELP onboard_webhook_oldest_pending_seconds Age of the oldest event an enabled endpoint has yet to handle.\n\
         # TYPE onboard_webhook_oldest_pending_seconds gauge\n\
         onboard_webhook_oldest_pending_seconds {oldest:.3}\n"
    );
}

/// Document storage (CONTRACT §7): bytes stored in all, by the enterprise that
/// stores the most (unnamed, as every series here), and the two quotas.
pub fn render_documents(
    out: &mut String,
    totals: onboard_core::store::DocumentTotals,
    quotas: &onboard_core::service::Quotas,
) {
    let _ = write!(
        out,
        "# HELP onboard_documents_stored_bytes Bytes of documents stored, every enterprise together.\n\
         # TYPE onboard_documents_stored_bytes gauge\n\
         onboard_documents_stored_bytes {}\n\
         # HELP onboard_documents_largest_enterprise_bytes Bytes of documents stored by the enterprise that stores the most.\n\
         # TYPE onboard_documents_largest_enterprise_bytes gauge\n\
         onboard_documents_largest_enterprise_bytes {}\n\
         # HELP onboard_document_quota_bytes The storage quota of documents.\n\
         # TYPE onboard_document_quota_bytes gauge\n\
         onboard_document_quota_bytes{{per=\"user\"}} {}\n\
         onboard_document_quota_bytes{{per=\"enterprise\"}} {}\n",
        totals.all,
        totals.largest_enterprise,
        quotas.document_bytes_per_user,
        quotas.document_bytes_per_enterprise
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let metrics = Metrics::default();
        for i in 0..500 {
            let method = format!("INVENTED{i}");
            metrics.record(&method, UNMATCHED, 405, Duration::from_millis(1));
        }
        metrics.record("GET", "/healthz", 200, Duration::from_millis(1));
        let text = metrics.render(0);
        assert!(text.contains(
            "onboard_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"405\"} 500"
        ), "{text}");
        assert!(!text.contains("INVENTED"), "{text}");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), "OTHER");
    }
}
