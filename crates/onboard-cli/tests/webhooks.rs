//! Outgoing webhooks (CONTRACT §9) with the real `onboard serve`: a node killed
//! with SIGKILL loses nothing it committed, two nodes on one PostgreSQL database
//! never send one attempt twice, and loopback stays refused unless allowed.
//!
//! The receiver is a real HTTP server on 127.0.0.1 that records every POST; each
//! message is verified with an independent Standard Webhooks implementation.
//! Every wait is bounded, and a node's log is printed when a test fails.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onboard_testkit::TestDatabase;
use onboard_testkit::fixtures::individual;
use serde_json::{Value, json};

use onboard_testkit::receiver::{Mode, Received, Receiver};
use onboard_testkit::{Onboard, Served};
use support::{BIN, free_port, http_client};

/// No request to a node may take longer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries come quickly, and there are enough of them to outlast a restart.
const FAST_RETRIES: &str = "1,1,1,1,1,1,1,1";

// ---------------------------------------------------------------------------
// The receiver

/// Waits until every event of `1..=n` arrived at least once.
async fn wait_for_events(receiver: &Receiver, n: i64, limit: Duration) -> Vec<Received> {
    receiver
        .wait_until(limit, |all| {
            let distinct: BTreeSet<i64> = all.iter().map(Received::event_id).collect();
            distinct.len() as i64 >= n
        })
        .await
}

/// The event ids in order of their first arrival.
fn first_arrivals(received: &[Received]) -> Vec<i64> {
    let mut seen = HashSet::new();
    received
        .iter()
        .map(Received::event_id)
        .filter(|id| seen.insert(*id))
        .collect()
}

// ---------------------------------------------------------------------------
// Nodes

/// A running `onboard serve` (the test kit's [`Served`]): killed when dropped,
/// its log printed if the test is failing.
type Node = Served;

/// A node on `database` (`--data-dir …` or `--database-url …`) with `extra` flags;
/// returns once it is ready.
async fn start(database: &[&str], extra: &[&str]) -> Node {
    Onboard::new(BIN).serve(&[database, extra].concat()).await
}

/// A node that may send to loopback and retries every second.
async fn allowing_loopback(database: &[&str], retries: &str) -> Node {
    let extra = [
        "--webhooks-allow-private-networks",
        "--webhook-retry-schedule",
        retries,
    ];
    start(database, &extra).await
}

/// [`allowing_loopback`] with endpoint leases of [`SHORT_LEASE`] (and attempts
/// that end within it), from a configuration file in `dir`.
async fn with_short_leases(database: &[&str], dir: &std::path::Path) -> Node {
    let config = dir.join("short-leases.toml");
    let lease_ms = SHORT_LEASE.as_millis();
    let text = format!(
        "[webhooks]\nlease_ms = {lease_ms}\ntimeout_ms = {}\n",
        lease_ms / 2
    );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let extra = [
        "--webhooks-allow-private-networks",
        "--webhook-retry-schedule",
        FAST_RETRIES,
        "--config",
        config,
    ];
    start(database, &extra).await
}

/// An endpoint's lease in the kill -9 tests: long enough to be seen holding,
/// short enough not to be waited out for a minute.
const SHORT_LEASE: Duration = Duration::from_secs(8);

/// `onboard enterprise create` on `database`: the key is the only line on stdout.
async fn create_key(database: &[&str]) -> String {
    Onboard::new(BIN).create_enterprise("acme", database).await
}

/// An enterprise's requests.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    key: String,
}

impl Api {
    fn new(key: String) -> Api {
        Api {
            client: http_client(REQUEST_TIMEOUT),
            key,
        }
    }

    async fn post(&self, url: String, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates an endpoint for `url`; returns its id and secret.
    async fn endpoint(&self, node: &Node, url: &str) -> (String, String) {
        let (status, body) = self
            .post(node.url("/v1/enterprise/webhooks"), &json!({"url": url}))
            .await;
        assert_eq!(status, 201, "{body}");
        let text = |field: &str| body["data"][field].as_str().unwrap().to_owned();
        (text("id"), text("secret"))
    }

    async fn register(&self, node: &Node, user_id: &str) {
        let url = node.url("/v1/enterprise/register-account");
        let (status, body) = self.post(url, &individual(user_id)).await;
        assert_eq!(status, 201, "register {user_id}: {body}");
    }

    /// The endpoint's recorded attempts, newest first.
    async fn deliveries(&self, node: &Node, endpoint: &str) -> Vec<Value> {
        let url = node.url(&format!("/v1/enterprise/webhooks/{endpoint}/deliveries"));
        let response = self.client.get(&url).bearer_auth(&self.key).send().await;
        let body: Value = response.unwrap().json().await.unwrap();
        body["data"].as_array().cloned().unwrap_or_default()
    }
}

/// Asserts each message verifies with `secret` and names its own event.
fn assert_signed(received: &[Received], secret: &str) {
    for message in received {
        assert!(message.verifies_with(secret), "{message:?}");
        let body: Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(body["data"]["event_id"], body["event_id"], "{body}");
        assert_eq!(body["type"], "user.registered", "{body}");
    }
}

// ---------------------------------------------------------------------------
// One node on SQLite, killed with SIGKILL

/// What the receiver does while the first node runs.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// Nobody listens: every attempt is refused at once, so the node is between
    /// retries (holding no lease) when it dies.
    Refused,
    /// The receiver accepts and never answers: the node dies in the middle of an
    /// attempt, holding the endpoint's lease, which must expire first.
    Hung,
}

const KILLED_USERS: i64 = 20;

/// Registers users while the receiver is out, kills the node with SIGKILL,
/// brings the receiver back, restarts the node on the same data folder, and
/// checks that every event arrives, signed, in order of first arrival.
async fn every_event_arrives_after_kill_9(outage: Outage) -> Duration {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let database = ["--data-dir", data_dir];
    let api = Api::new(create_key(&database).await);
    let port = free_port();
    let hung = match outage {
        Outage::Refused => None,
        Outage::Hung => Some(Receiver::start(port, Mode::Hang).await.0),
    };
    let node = with_short_leases(&database, data.path()).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let (endpoint, secret) = api.endpoint(&node, &url).await;
    for n in 1..=KILLED_USERS {
        api.register(&node, &format!("user_{n:03}")).await;
    }
    wait_for_first_attempt(&api, &node, &endpoint, outage).await;
    node.kill().await;

    let receiver = match hung {
        Some(receiver) => {
            receiver.set_mode(Mode::Accept);
            receiver
        }
        None => Receiver::start(port, Mode::Accept).await.0,
    };
    let restarted = Instant::now();
    let _node = with_short_leases(&database, data.path()).await;
    let received = wait_for_events(&receiver, KILLED_USERS, Duration::from_secs(150)).await;
    let took = restarted.elapsed();
    assert_eq!(
        first_arrivals(&received),
        (1..=KILLED_USERS).collect::<Vec<_>>(),
        "each event first arrives in event_id order"
    );
    assert_signed(&received, &secret);
    took
}

/// Waits until the node has begun sending: a failed attempt is recorded
/// (refused), or the receiver holds a request open (hung).
async fn wait_for_first_attempt(api: &Api, node: &Node, endpoint: &str, outage: Outage) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempts = api.deliveries(node, endpoint).await;
        match outage {
            Outage::Refused if !attempts.is_empty() => {
                assert_eq!(attempts[0]["status"], "pending", "{attempts:?}");
                return;
            }
            // The attempt in flight is not recorded until it ends: give the node
            // time to open it.
            Outage::Hung if attempts.is_empty() => {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                return;
            }
            Outage::Hung => panic!("an attempt to a hung receiver ended: {attempts:?}"),
            Outage::Refused => {}
        }
        assert!(Instant::now() < deadline, "no attempt was recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_after_kill_9_while_the_receiver_was_down() {
    let took = every_event_arrives_after_kill_9(Outage::Refused).await;
    eprintln!("all events arrived {took:?} after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_after_kill_9_in_the_middle_of_an_attempt_once_its_lease_expires() {
    let took = every_event_arrives_after_kill_9(Outage::Hung).await;
    eprintln!("all events arrived {took:?} after the restart");
    // The lease was taken about 1.5 s before the kill: nothing may be sent while
    // the rest of it holds.
    assert!(
        took > SHORT_LEASE / 2,
        "the restarted node sent within {took:?}, while the killed node's lease held"
    );
}

// ---------------------------------------------------------------------------
// Two nodes on one PostgreSQL database

const SHARED_USERS: i64 = 100;

/// Two nodes on a fresh PostgreSQL database, one endpoint to a receiver in
/// `mode`, and [`SHARED_USERS`] users registered through both nodes at once.
/// Returns what arrived once every event has, plus a quiet second, and the
/// endpoint's secret.
async fn two_nodes_deliver(mode: Mode, retries: &str, expected: usize) -> (Vec<Received>, String) {
    let db = TestDatabase::postgres().await;
    let database = ["--database-url", db.url.as_str()];
    let api = Api::new(create_key(&database).await);
    let a = allowing_loopback(&database, retries).await;
    let b = allowing_loopback(&database, retries).await;
    let (receiver, url) = Receiver::start(0, mode).await;
    let (_, secret) = api.endpoint(&a, &url).await;
    let nodes = Arc::new([a, b]);
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..4 {
        let (api, nodes) = (api.clone(), nodes.clone());
        writers.spawn(async move {
            for n in (writer..SHARED_USERS).step_by(4) {
                let node = &nodes[usize::try_from(n % 2).unwrap()];
                api.register(node, &format!("user_{n:03}")).await;
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("every registration succeeds");
    }
    receiver
        .wait_until(Duration::from_secs(90), |all| all.len() >= expected)
        .await;
    // Anything sent twice would arrive within the next polls of either node.
    tokio::time::sleep(Duration::from_secs(2)).await;
    (receiver.all(), secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_send_every_event_exactly_once_in_order() {
    if onboard_testkit::skip_postgres() {
        return;
    }
    let total = usize::try_from(SHARED_USERS).unwrap();
    let (received, secret) = two_nodes_deliver(Mode::Accept, "1,1,1", total).await;
    let ids: Vec<String> = received.iter().map(Received::id).collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "a webhook-id arrived twice");
    let event_ids: Vec<i64> = received.iter().map(Received::event_id).collect();
    assert_eq!(event_ids, (1..=SHARED_USERS).collect::<Vec<_>>());
    assert_signed(&received, &secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_retry_a_refused_first_attempt_once_and_never_send_a_third() {
    if onboard_testkit::skip_postgres() {
        return;
    }
    let total = 2 * usize::try_from(SHARED_USERS).unwrap();
    let (received, secret) = two_nodes_deliver(Mode::FailFirstSight, "0,0,0", total).await;
    // In order per endpoint: each message's retry comes before the next message.
    let event_ids: Vec<i64> = received.iter().map(Received::event_id).collect();
    let twice: Vec<i64> = (1..=SHARED_USERS).flat_map(|e| [e, e]).collect();
    assert_eq!(event_ids, twice, "each message exactly twice, in order");
    for pair in received.chunks(2) {
        assert_eq!(pair[0].id(), pair[1].id(), "a retry keeps its webhook-id");
    }
    assert_signed(&received, &secret);
}

// ---------------------------------------------------------------------------
// Without the flag

#[tokio::test]
async fn a_server_started_without_the_flag_refuses_a_loopback_url() {
    let data = tempfile::tempdir().unwrap();
    let database = ["--data-dir", data.path().to_str().unwrap()];
    let api = Api::new(create_key(&database).await);
    let node = start(&database, &[]).await;
    let (_receiver, url) = Receiver::start(0, Mode::Accept).await;
    let (status, body) = api
        .post(node.url("/v1/enterprise/webhooks"), &json!({"url": url}))
        .await;
    assert_eq!(status, 400, "{body}");
    let error = &body["errors"][0];
    assert_eq!(error["field"], "url", "{body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("127.0.0.1"),
        "the sentence names the address: {body}"
    );
}
