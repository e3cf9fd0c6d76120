//! webhook-delivery: signed webhooks delivered per second (CONTRACT §9) to a
//! receiver on loopback, from a backlog of registrations: to one endpoint (in
//! `event_id` order, so one message at a time) and to several endpoints at once.
//!
//! The server runs with `--webhooks-allow-private-networks`; the users are
//! registered first, then the endpoints are created (a new endpoint starts at the
//! end of the log) and each is asked to replay the log from its start
//! (`{"after": 0}`), so its whole backlog is due at once. The clock runs from the
//! first replay request to the last message's arrival.
//!
//! Floor: the same receiver, sent the very bodies the server sent by the bench
//! itself: per endpoint, a plain loop of signed POSTs, one at a time, over a
//! keep-alive connection. It does the sending, signing and HTTP, and none of the
//! bookkeeping (the lease, the recorded attempt, the cursor) that makes
//! delivery survive a crash.
//!
//! The receiver checks every message as a real one would: the signature (with
//! the endpoint's secret), and that `event_id`s arrive in order, each once.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use onboard_core::webhooks::WebhookSecret;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::register::{Http, register_load};
use super::{Ctx, Onboard};
use crate::driver::{self, Load};
use crate::plan::Size;
use crate::process::stop;
use crate::report::{Better, Row};

const NAME: &str = "webhook-delivery";

/// How big the backlog is, how many endpoints share it, and how long it may take.
struct Sizes {
    events: u64,
    endpoints: usize,
    drain: Duration,
}

fn sizes(size: Size) -> Sizes {
    match size {
        Size::Full => Sizes {
            events: 1000,
            endpoints: 8,
            drain: Duration::from_secs(180),
        },
        Size::Tiny => Sizes {
            events: 20,
            endpoints: 2,
            drain: Duration::from_secs(30),
        },
    }
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let sizes = sizes(ctx.plan.size);
    let ours = ours(ctx, &sizes).await?;
    let floor = floor(&ours, sizes.endpoints).await?;
    let events = ours.bodies.len();
    let many = sizes.endpoints;
    Ok(vec![
        Row::new(
            NAME,
            "deliveries/s, 1 endpoint",
            "msg/s",
            Better::Higher,
            rate(events, ours.one),
        )
        .floor(rate(events, floor.one))
        .note(format!(
            "{events} events in order; floor: the same bodies, signed and POSTed in a \
             loop by the bench, one at a time"
        )),
        Row::new(
            NAME,
            &format!("deliveries/s, {many} endpoints"),
            "msg/s",
            Better::Higher,
            rate(events * many, ours.many),
        )
        .floor(rate(events * many, floor.many))
        .note(format!(
            "{events} events to each endpoint at once; floor: {many} such loops at once"
        )),
    ])
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64().max(1e-9)
}

/// What our server did: the time to drain the backlog to one endpoint, then
/// to `endpoints` new ones at once; the bodies it sent, and the secrets.
struct Ours {
    one: Duration,
    many: Duration,
    bodies: Vec<Bytes>,
    secrets: Vec<WebhookSecret>,
}

async fn ours(ctx: &Ctx, sizes: &Sizes) -> anyhow::Result<Ours> {
    let flags = ["--webhooks-allow-private-networks"];
    let onboard = Onboard::start_with(ctx, NAME, 0, &flags).await?;
    let base = onboard.served.base.clone();
    let client = driver::client(ctx.plan.load.concurrency);
    let url = format!("{base}/v1/enterprise/register-account");
    let http = Http::new(client.clone(), url, onboard.key.clone());
    let load = Load {
        max_requests: sizes.events,
        max_time: Duration::from_secs(120),
        ..ctx.plan.load
    };
    let registered = register_load(&http, "hook_", load).await;
    registered.check("webhook-delivery, the backlog's registrations")?;
    let events = usize::try_from(registered.ok)?;

    let receiver = Receiver::start(1 + sizes.endpoints, events).await?;
    let api = Endpoints {
        client,
        base,
        key: onboard.key.clone(),
    };
    let one = api.drain(&receiver, 0..1, sizes.drain).await;
    let many = match &one {
        Ok(_) => {
            api.drain(&receiver, 1..1 + sizes.endpoints, sizes.drain)
                .await
        }
        Err(_) => Ok(Duration::ZERO),
    };
    let tail = format!("its log ends: {}", onboard.served.log_tail(5).join(" / "));
    stop(onboard.served).await;
    let one = one.with_context(|| tail.clone())?;
    let many = many.with_context(|| tail.clone())?;
    receiver.check()?;
    Ok(Ours {
        one,
        many,
        bodies: receiver.slots[0].kept.lock().unwrap().clone(),
        secrets: receiver.secrets(),
    })
}

/// The server's endpoints API.
struct Endpoints {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Endpoints {
    /// Creates one endpoint per receiver slot of `slots`, has each replay the
    /// whole log, and waits until each received it; returns the time from the
    /// first replay request to the last arrival.
    async fn drain(
        &self,
        receiver: &Receiver,
        slots: std::ops::Range<usize>,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let mut ids = Vec::new();
        for slot in slots.clone() {
            let (id, secret) = self.create(&receiver.url(slot)).await?;
            receiver.slots[slot].secret.send_replace(Some(secret));
            ids.push(id);
        }
        let started = Instant::now();
        for id in ids {
            let path = format!("/v1/enterprise/webhooks/{id}/replay");
            self.post(&path, &json!({"after": 0}), 202).await?;
        }
        receiver.wait(slots, limit).await?;
        Ok(receiver.last_arrival() - started)
    }

    /// A new endpoint's id and secret.
    async fn create(&self, url: &str) -> anyhow::Result<(String, WebhookSecret)> {
        let body = self
            .post("/v1/enterprise/webhooks", &json!({ "url": url }), 201)
            .await?;
        let text = |field: &str| body["data"][field].as_str().unwrap_or_default().to_owned();
        let secret = WebhookSecret::parse(&text("secret"))
            .with_context(|| format!("a secret that does not parse: {body}"))?;
        Ok((text("id"), secret))
    }

    async fn post(&self, path: &str, body: &Value, expected: u16) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .with_context(|| format!("Failed to POST {path}"))?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status == expected, "POST {path} answered {status}: {body}");
        Ok(body)
    }
}

/// The floor's times for the same two measurements.
struct Floor {
    one: Duration,
    many: Duration,
}

async fn floor(ours: &Ours, endpoints: usize) -> anyhow::Result<Floor> {
    let events = ours.bodies.len();
    let receiver = Receiver::start(1 + endpoints, events).await?;
    for (slot, secret) in ours.secrets.iter().enumerate() {
        receiver.slots[slot]
            .secret
            .send_replace(Some(secret.clone()));
    }
    let bodies = Arc::new(ours.bodies.clone());
    let one = floor_loops(&receiver, &bodies, &ours.secrets, 0..1).await?;
    let many = floor_loops(&receiver, &bodies, &ours.secrets, 1..1 + endpoints).await?;
    receiver.check()?;
    Ok(Floor { one, many })
}

/// One sending loop per slot of `slots`, all at once; the time until the last
/// message arrived.
async fn floor_loops(
    receiver: &Receiver,
    bodies: &Arc<Vec<Bytes>>,
    secrets: &[WebhookSecret],
    slots: std::ops::Range<usize>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for slot in slots.clone() {
        let (url, bodies, secret) = (receiver.url(slot), bodies.clone(), secrets[slot].clone());
        loops.spawn(async move { send_all(&url, &bodies, &secret, slot).await });
    }
    while let Some(sent) = loops.join_next().await {
        sent??;
    }
    receiver.wait(slots, Duration::from_secs(60)).await?;
    Ok(receiver.last_arrival() - started)
}

/// The floor's loop: each body signed and POSTed, one at a time, through a
/// client built like the server's (no redirects, keep-alive).
async fn send_all(
    url: &str,
    bodies: &[Bytes],
    secret: &WebhookSecret,
    slot: usize,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    for (n, body) in bodies.iter().enumerate() {
        let id = format!("msg_floor{slot}_{}", n + 1);
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = client
            .post(url)
            .timeout(Duration::from_secs(15))
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", secret.sign(&id, timestamp, body))
            .body(body.clone())
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.bytes().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The receiver

/// One endpoint's view at the receiver.
struct Slot {
    /// Set once the endpoint exists; a message that arrives first waits for it.
    secret: watch::Sender<Option<WebhookSecret>>,
    delivered: AtomicU64,
    last_event: AtomicI64,
    /// The bodies received, in order (slot 0 only: the floor sends them again).
    kept: Mutex<Vec<Bytes>>,
}

/// A webhook receiver on 127.0.0.1, in the bench's own process: `POST
/// /hook/{slot}` verifies, counts and answers 204.
struct Receiver {
    slots: Vec<Slot>,
    base: String,
    /// Messages each slot must receive.
    expected: u64,
    last_arrival: Mutex<Instant>,
    /// The first thing that was wrong, and how many were.
    problems: Mutex<(u64, Option<String>)>,
}

impl Receiver {
    async fn start(slots: usize, expected: usize) -> anyhow::Result<Arc<Receiver>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("Failed to bind the webhook receiver")?;
        let receiver = Arc::new(Receiver {
            slots: (0..slots)
                .map(|_| Slot {
                    secret: watch::Sender::new(None),
                    delivered: AtomicU64::new(0),
                    last_event: AtomicI64::new(0),
                    kept: Mutex::new(Vec::new()),
                })
                .collect(),
            base: format!("http://{}", listener.local_addr()?),
            expected: u64::try_from(expected)?,
            last_arrival: Mutex::new(Instant::now()),
            problems: Mutex::new((0, None)),
        });
        let app = axum::Router::new()
            .route("/hook/{slot}", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(receiver)
    }

    fn url(&self, slot: usize) -> String {
        format!("{}/hook/{slot}", self.base)
    }

    fn secrets(&self) -> Vec<WebhookSecret> {
        self.slots
            .iter()
            .filter_map(|s| s.secret.borrow().clone())
            .collect()
    }

    fn last_arrival(&self) -> Instant {
        *self.last_arrival.lock().unwrap()
    }

    /// Waits (bounded) until every slot of `slots` has all its messages.
    async fn wait(&self, slots: std::ops::Range<usize>, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let got: u64 = self.slots[slots.clone()]
                .iter()
                .map(|s| s.delivered.load(Ordering::SeqCst))
                .sum();
            let wanted = self.expected * slots.len() as u64;
            if got >= wanted {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{got} of {wanted} webhooks arrived within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn problem(&self, what: String) {
        let mut problems = self.problems.lock().unwrap();
        problems.0 += 1;
        problems.1.get_or_insert(what);
    }

    fn check(&self) -> anyhow::Result<()> {
        let problems = self.problems.lock().unwrap();
        match &problems.1 {
            None => Ok(()),
            Some(first) => anyhow::bail!("{} webhooks were wrong, first: {first}", problems.0),
        }
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(slot): Path<usize>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(endpoint) = receiver.slots.get(slot) else {
        return StatusCode::NOT_FOUND;
    };
    match verify(endpoint, &headers, &body).await {
        Ok(event_id) => {
            let previous = endpoint.last_event.swap(event_id, Ordering::SeqCst);
            if event_id != previous + 1 {
                receiver.problem(format!("slot {slot}: event {event_id} after {previous}"));
            }
            if slot == 0 {
                endpoint.kept.lock().unwrap().push(body);
            }
        }
        Err(why) => receiver.problem(format!("slot {slot}: {why}")),
    }
    *receiver.last_arrival.lock().unwrap() = Instant::now();
    endpoint.delivered.fetch_add(1, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

/// The message's `event_id`, once its signature is found good.
async fn verify(endpoint: &Slot, headers: &HeaderMap, body: &[u8]) -> Result<i64, String> {
    let mut secret = endpoint.secret.subscribe();
    let secret = tokio::time::timeout(Duration::from_secs(10), secret.wait_for(Option::is_some))
        .await
        .map_err(|_| "no secret for this endpoint".to_owned())?
        .map_err(|e| e.to_string())?
        .clone()
        .ok_or("no secret")?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("no {name} header"))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .parse()
        .map_err(|_| "a webhook-timestamp that is not a number".to_owned())?;
    let expected = secret.sign(id, timestamp, body);
    if !header("webhook-signature")?
        .split(' ')
        .any(|s| s == expected)
    {
        return Err(format!("{id}: the signature does not verify"));
    }
    let json: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    json["event_id"]
        .as_i64()
        .ok_or_else(|| format!("{id}: no event_id"))
}
