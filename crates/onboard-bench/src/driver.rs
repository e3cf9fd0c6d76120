//! The load driver: a fixed number of workers, each running one request at a
//! time in a loop that stops at a request count or a deadline, whichever comes
//! first. The same driver runs against our server and against each floor, so the
//! client's own cost is the same on both sides.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::stats::Latencies;

/// How hard and how long to drive.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    pub max_requests: u64,
    pub max_time: Duration,
}

/// What a run of the driver saw.
#[derive(Debug)]
pub struct Outcome {
    pub ok: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
    pub elapsed: Duration,
    /// Latencies of the successful calls.
    pub latencies: Latencies,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Fails when more than 1 % of the calls failed: the figures would not mean
    /// what they say.
    pub fn check(&self, what: &str) -> anyhow::Result<()> {
        let total = self.ok + self.failed;
        anyhow::ensure!(total > 0, "{what}: no request ran");
        anyhow::ensure!(
            self.failed * 100 <= total,
            "{what}: {} of {total} calls failed, first: {}",
            self.failed,
            self.first_failure.as_deref().unwrap_or("?")
        );
        Ok(())
    }
}

struct Worker {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    latencies: Latencies,
}

/// Runs `call(i)` for `i = 0, 1, 2…` on `load.concurrency` workers.
pub async fn drive<F, Fut>(load: Load, call: F) -> Outcome
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + load.max_time;
    // Bounded: a load limited by time alone has `max_requests = u64::MAX`.
    let per_worker = (load.max_requests.min(1 << 22) as usize / load.concurrency.max(1)) + 1;
    let workers: Vec<_> = (0..load.concurrency)
        .map(|_| {
            let (call, next) = (call.clone(), next.clone());
            tokio::spawn(async move {
                let mut w = Worker {
                    ok: 0,
                    failed: 0,
                    first_failure: None,
                    latencies: Latencies::with_capacity(per_worker),
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= load.max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let sent = Instant::now();
                    match call(i).await {
                        Ok(()) => {
                            w.ok += 1;
                            w.latencies.push(sent.elapsed());
                        }
                        Err(e) => {
                            w.failed += 1;
                            w.first_failure.get_or_insert(e);
                        }
                    }
                }
                w
            })
        })
        .collect();
    let mut outcome = Outcome {
        ok: 0,
        failed: 0,
        first_failure: None,
        elapsed: Duration::ZERO,
        latencies: Latencies::with_capacity(load.max_requests.min(1 << 22) as usize),
    };
    for worker in futures_util::future::join_all(workers).await {
        let Ok(w) = worker else {
            outcome.failed += 1;
            continue;
        };
        outcome.ok += w.ok;
        outcome.failed += w.failed;
        outcome.first_failure = outcome.first_failure.or(w.first_failure);
        outcome.latencies.extend(w.latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// A `GET` that must answer 200; the body is read to the end so that the
/// connection goes back to the pool.
pub async fn get_ok(client: &reqwest::Client, url: String, key: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(())
}

/// A JSON `POST` that must answer 201.
pub async fn post_created(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: String,
) -> Result<(), String> {
    let response = client
        .post(url)
        .bearer_auth(key)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(())
}

/// One client for a whole measurement: keep-alive connections, no proxy lookups.
pub fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_driver_stops_at_the_count_and_counts_failures() {
        let load = Load {
            concurrency: 4,
            max_requests: 100,
            max_time: Duration::from_secs(10),
        };
        let outcome = drive(load, |i| async move {
            if i % 10 == 0 {
                Err(format!("call {i}"))
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(outcome.ok + outcome.failed, 100);
        assert_eq!(outcome.failed, 10);
        assert_eq!(outcome.latencies.len(), 90);
        assert!(outcome.check("x").is_err());
    }

    #[tokio::test]
    async fn the_driver_stops_at_the_deadline() {
        let load = Load {
            concurrency: 2,
            max_requests: u64::MAX,
            max_time: Duration::from_millis(100),
        };
        let outcome = drive(load, |_| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        })
        .await;
        assert!(outcome.ok > 0, "the workers ran");
        assert_eq!(outcome.failed, 0, "no worker failed");
        assert!(outcome.ok < 50 && outcome.elapsed < Duration::from_secs(2));
    }
}
