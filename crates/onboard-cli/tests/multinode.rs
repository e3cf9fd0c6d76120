//! Several `onboard serve` processes on one PostgreSQL database behave as one
//! service (CONTRACT §6): real binaries, a real database per test, real
//! sockets, and connections killed under load.
//!
//! Every wait is bounded: HTTP requests carry a client timeout, WebSocket reads a
//! deadline, and each test as a whole a time limit, so that a failure can never
//! hang. A node's log (stderr) is kept in a temporary file and printed when a test
//! fails.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use onboard_api::FeedPayload;
use onboard_client::{FeedClient, FeedUpdate};
use onboard_testkit::fixtures::individual;
use onboard_testkit::{Onboard, Served, TestDatabase};
use serde_json::{Value, json};
use sqlx::Connection;
use support::{BIN, free_port, http_client};
use tokio::sync::{Barrier, Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// No request may take longer; a request that does is a failure (a hang).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The limit of a whole test: a safety net, far above what a test takes.
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// Runs a test body under [`TEST_LIMIT`]; skips it where no PostgreSQL is available
/// (the test kit says so once, on stderr).
async fn bounded(test: impl std::future::Future<Output = ()>) {
    if onboard_testkit::skip_postgres() {
        return;
    }
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("the test finished within its time limit");
}

/// A running `onboard serve --database-url … --sandbox`, named in the tests'
/// messages; killed when dropped, its log printed if the test is failing.
struct Node {
    name: &'static str,
    served: Served,
}

impl Node {
    fn start(name: &'static str, database_url: &str) -> Node {
        Node::start_with(name, database_url, &[])
    }

    /// Started, not yet ready: nodes start side by side, then [`Node::wait_ready`].
    fn start_with(name: &'static str, database_url: &str, extra: &[&str]) -> Node {
        let args = [&["--database-url", database_url, "--sandbox"], extra].concat();
        Node {
            name,
            served: Onboard::new(BIN).start_serve(free_port(), &args),
        }
    }

    /// Waits (bounded) until `/readyz` answers 200.
    async fn wait_ready(&self) {
        self.served
            .wait_ready("/readyz", Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("node {} never became ready: {e}", self.name));
    }
}

impl Deref for Node {
    type Target = Served;

    fn deref(&self) -> &Served {
        &self.served
    }
}

/// `onboard enterprise create --database-url`: the key is the only line on stdout.
async fn create_key(database_url: &str, name: &str) -> String {
    Onboard::new(BIN)
        .create_enterprise(name, &["--database-url", database_url])
        .await
}

/// An enterprise's requests: every one bounded by the client's timeout.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    key: String,
}

/// What a request got: a status and its JSON body (`Null` when it had none).
type Answer = Result<(u16, Value), String>;

impl Api {
    async fn answer(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        if status == 503 && response.headers().get("retry-after").is_none() {
            return Err("a 503 without Retry-After".into());
        }
        let text = response.text().await.map_err(describe)?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn post(&self, url: String, body: &Value) -> Answer {
        Self::answer(self.client.post(url).bearer_auth(&self.key).json(body)).await
    }

    async fn get(&self, url: String) -> Answer {
        Self::answer(self.client.get(url).bearer_auth(&self.key)).await
    }

    async fn register(&self, node: &Node, user_id: &str) -> Answer {
        let url = node.url("/v1/enterprise/register-account");
        self.post(url, &individual(user_id)).await
    }

    /// A GET that must answer 200; a 503 is retried for a few seconds (the node may
    /// still be reconnecting after a disturbance).
    async fn get_ok(&self, url: String) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.get(url.clone()).await {
                Ok((200, body)) => return body,
                Ok((503, _)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("GET {url}: {other:?}"),
            }
        }
    }

    /// The whole event log, read through `node` a thousand at a time.
    async fn event_log(&self, node: &Node) -> Vec<Value> {
        let mut log = Vec::new();
        loop {
            let after = log
                .last()
                .map_or(0, |e: &Value| e["event_id"].as_i64().unwrap());
            let url = node.url(&format!("/v1/enterprise/events?after={after}&limit=1000"));
            let page = self.get_ok(url).await["data"].as_array().unwrap().clone();
            if page.is_empty() {
                return log;
            }
            log.extend(page);
        }
    }

    /// Confirms the email code of `user_id` read from the sandbox outbox of `node`.
    async fn verify_email(&self, node: &Node, user_id: &str) {
        let url = node.url(&format!("/v1/sandbox/messages?user_id={user_id}"));
        let messages = self.get_ok(url).await;
        let code = messages["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["channel"] == "email")
            .unwrap_or_else(|| panic!("no email code for {user_id}: {messages}"))["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = node.url(&format!("/v1/enterprise/users/verify/{user_id}"));
        let answer = self.post(url, &json!({"type": "email", "otp": code})).await;
        assert!(
            matches!(answer, Ok((200, _))),
            "verify {user_id}: {answer:?}"
        );
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        format!("TIMEOUT: {e}")
    } else {
        format!("transport error: {e}")
    }
}

/// What a feed connection saw: a feed message, or something that must not happen.
enum Frame {
    Event(i64, Box<FeedPayload>),
    Problem(String),
}

/// A subscriber of `private.enterprise.users` through the client crate, on one
/// connection: a reconnect, a server error or a `sequence` that does not count
/// every server message 1, 2, 3… is reported as a problem, not smoothed over.
struct Subscriber {
    name: String,
    frames: mpsc::UnboundedReceiver<Frame>,
    /// Feed messages received so far, in arrival order: (event_id, payload).
    received: Vec<(i64, FeedPayload)>,
    reader: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    async fn connect(name: &str, node: &Node, key: &str, after: Option<i64>) -> Subscriber {
        let client = FeedClient::new(&node.ws, key)
            .expect("a ws:// URL")
            .connect_timeout(Duration::from_secs(10));
        let mut subscription = client.subscribe(after);
        let first = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
        match first {
            Ok(Ok(FeedUpdate::Subscribed { .. })) => {}
            other => panic!("{name}: the subscription was not confirmed: {other:?}"),
        }
        let (tx, frames) = mpsc::unbounded_channel();
        let who = name.to_owned();
        let reader = tokio::spawn(async move {
            // The replies to `authenticate` and `subscribe` were messages 1 and 2.
            let mut expected = 3;
            loop {
                let frame = match subscription.next().await {
                    Ok(FeedUpdate::Message(message)) if message.sequence != expected => {
                        let why = format!(
                            "{who}: sequence {} after {}",
                            message.sequence,
                            expected - 1
                        );
                        Frame::Problem(why)
                    }
                    Ok(FeedUpdate::Message(message)) => {
                        expected += 1;
                        if message.recipient == "private.enterprise.users" {
                            Frame::Event(message.event_id, Box::new(message.payload))
                        } else {
                            Frame::Problem(format!("{who}: a message for {}", message.recipient))
                        }
                    }
                    Ok(FeedUpdate::Reconnecting { reason, .. }) => {
                        Frame::Problem(format!("{who}: the connection dropped: {reason}"))
                    }
                    Ok(other) => Frame::Problem(format!("{who}: unexpected {other:?}")),
                    Err(e) => Frame::Problem(format!("{who}: the subscription ended: {e}")),
                };
                let stop = matches!(frame, Frame::Problem(_));
                if tx.send(frame).is_err() || stop {
                    return;
                }
            }
        });
        Subscriber {
            name: name.to_owned(),
            frames,
            received: Vec::new(),
            reader,
        }
    }

    /// Receives until a message with `event_id >= last` arrived, or panics at the
    /// deadline; returns everything received so far.
    async fn receive_through(&mut self, last: i64, within: Duration) -> &[(i64, FeedPayload)] {
        let deadline = tokio::time::Instant::now() + within;
        while self.received.last().is_none_or(|(id, _)| *id < last) {
            let frame = tokio::time::timeout_at(deadline, self.frames.recv()).await;
            match frame {
                Ok(Some(Frame::Event(id, payload))) => self.received.push((id, *payload)),
                Ok(Some(Frame::Problem(why))) => panic!("{}: {why}", self.name),
                Ok(None) => panic!("{}: the reader stopped", self.name),
                Err(_) => panic!(
                    "{}: event {last} did not arrive within {within:?}; got {} messages, last {:?}",
                    self.name,
                    self.received.len(),
                    self.received.last().map(|(id, _)| id)
                ),
            }
        }
        &self.received
    }

    /// Asserts that what arrived is exactly `expected` (event ids), in order, and
    /// nothing more arrives for a moment.
    async fn assert_exactly(&mut self, expected: &[i64], within: Duration) {
        let last = *expected.last().expect("some events are expected");
        let received = self.receive_through(last, within).await;
        let ids: Vec<i64> = received.iter().map(|(id, _)| *id).collect();
        if ids != expected {
            let dupes = ids.len() - ids.iter().collect::<BTreeSet<_>>().len();
            panic!(
                "{}: expected event ids {}..={last} in order; got {} ids ({dupes} duplicates): {ids:?}",
                self.name,
                expected[0],
                ids.len()
            );
        }
        // Nothing after the end (no duplicate resent late).
        let extra = tokio::time::timeout(Duration::from_millis(300), self.frames.recv()).await;
        match extra {
            Err(_) => {}
            Ok(Some(Frame::Event(id, _))) => panic!("{}: extra event {id}", self.name),
            Ok(Some(Frame::Problem(why))) => panic!("{}: {why}", self.name),
            Ok(None) => panic!("{}: the reader stopped", self.name),
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The feed messages agree with the log, event by event.
fn assert_matches_log(subscriber: &Subscriber, log: &BTreeMap<i64, Value>) {
    for (id, payload) in &subscriber.received {
        let event = &log[id];
        let user = &event["user"];
        assert_eq!(payload.user_id, user["user_id"], "event {id}");
        assert_eq!(payload.status, user["status"], "event {id}");
        let requirements = json!({
            "email": payload.requirements.email,
            "sms": payload.requirements.sms,
        });
        assert_eq!(
            requirements, user["requirements"],
            "event {id} ({})",
            event["type"]
        );
    }
}

fn log_by_id(log: Vec<Value>) -> BTreeMap<i64, Value> {
    let by_id: BTreeMap<i64, Value> = log
        .into_iter()
        .map(|e| (e["event_id"].as_i64().unwrap(), e))
        .collect();
    let ids: Vec<i64> = by_id.keys().copied().collect();
    let expected: Vec<i64> = (1..=ids.len() as i64).collect();
    assert_eq!(ids, expected, "the log's ids are 1..=n without a gap");
    by_id
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribers_on_node_b_receive_everything_written_through_both_nodes_in_order() {
    bounded(async {
        let db = TestDatabase::postgres().await;
        let key = create_key(&db.url, "acme").await;
        let (a, b) = (Node::start("A", &db.url), Node::start("B", &db.url));
        let api = Api {
            client: http_client(REQUEST_TIMEOUT),
            key: key.clone(),
        };
        a.wait_ready().await;
        b.wait_ready().await;
        let nodes = Arc::new([a, b]);

        let mut subscribers = vec![
            Subscriber::connect("live-1", &nodes[1], &key, None).await,
            Subscriber::connect("live-2", &nodes[1], &key, None).await,
            Subscriber::connect("replay-from-0", &nodes[1], &key, Some(0)).await,
        ];

        // Three writers per node, ten registrations each; every third user then
        // confirms its email code, read and sent through the other node.
        const WRITERS: usize = 3;
        const EACH: usize = 10;
        let acked = Arc::new(AtomicUsize::new(0));
        // user_id → (the 201's data, whether its email was then verified)
        let created = Arc::new(Mutex::new(BTreeMap::<String, (Value, bool)>::new()));
        let mut writers = tokio::task::JoinSet::new();
        for node in 0..2 {
            for writer in 0..WRITERS {
                let (api, nodes, acked, created) =
                    (api.clone(), nodes.clone(), acked.clone(), created.clone());
                writers.spawn(async move {
                    let (here, there) = (&nodes[node], &nodes[1 - node]);
                    for i in 0..EACH {
                        let user_id = format!("n{node}-w{writer}-{i}");
                        let answer = api.register(here, &user_id).await;
                        let Ok((201, body)) = answer else {
                            panic!("register {user_id} through {}: {answer:?}", here.name);
                        };
                        let verify = i % 3 == 0;
                        created
                            .lock()
                            .await
                            .insert(user_id.clone(), (body["data"].clone(), verify));
                        acked.fetch_add(1, Ordering::SeqCst);
                        if verify {
                            api.verify_email(there, &user_id).await;
                        }
                    }
                });
            }
        }
        // A fourth subscriber joins mid-load, asking for everything from 0: replay
        // and live must meet without a gap or a duplicate.
        let deadline = Instant::now() + Duration::from_secs(20);
        while acked.load(Ordering::SeqCst) < 25 {
            assert!(Instant::now() < deadline, "the writers make progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        subscribers.push(Subscriber::connect("mid-load", &nodes[1], &key, Some(0)).await);
        while let Some(done) = writers.join_next().await {
            done.expect("a writer finished cleanly");
        }

        let users = 2 * WRITERS * EACH;
        let verified = 2 * WRITERS * EACH.div_ceil(3);
        let total = (users + verified) as i64;
        let log = log_by_id(api.event_log(&nodes[0]).await);
        assert_eq!(
            log.len() as i64,
            total,
            "one event per registration and per verification"
        );
        let registered: Vec<&str> = log
            .values()
            .filter(|e| e["type"] == "user.registered")
            .map(|e| e["user"]["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(registered.len(), users);
        assert_eq!(registered.iter().collect::<BTreeSet<_>>().len(), users);

        // A deactivation through A takes an event_id but is not sent on the feed;
        // the registration after it is.
        let gone = "n0-w0-1";
        let deleted = api
            .client
            .delete(nodes[0].url(&format!("/v1/enterprise/account/{gone}")))
            .bearer_auth(&api.key)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
        let answer = api.register(&nodes[0], "after-the-deactivation").await;
        assert!(matches!(answer, Ok((201, _))), "{answer:?}");
        let log = log_by_id(api.event_log(&nodes[0]).await);
        assert_eq!(log[&(total + 1)]["type"], "user.deactivated");
        let mut expected: Vec<i64> = (1..=total).collect();
        expected.push(total + 2);

        for subscriber in &mut subscribers {
            subscriber
                .assert_exactly(&expected, Duration::from_secs(15))
                .await;
            assert_matches_log(subscriber, &log);
        }
        // The user tokens in the feed of B work on A (and stop with deactivation).
        let mut checked = 0;
        let gone_payload = subscribers[0]
            .received
            .iter()
            .find(|(_, p)| p.user_id == gone)
            .expect("the deactivated user was registered on the feed");
        let sample = subscribers[0].received.iter().take(10);
        for (id, payload) in sample.chain([gone_payload]) {
            let token = payload
                .user_token
                .as_ref()
                .unwrap_or_else(|| panic!("event {id} carries a user token: {payload:?}"));
            assert_eq!(token.partner_user_id, payload.user_id);
            let token = &token.token;
            let me = api
                .client
                .get(nodes[0].url("/v1/user"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            if payload.user_id == gone {
                assert_eq!(me.status(), 401, "{gone}'s token stopped working");
            } else {
                assert_eq!(me.status(), 200, "event {id}'s token on node A");
                let me: Value = me.json().await.unwrap();
                assert_eq!(me["data"]["user_id"], payload.user_id.as_str());
                checked += 1;
            }
        }
        assert!(checked >= 9);
        // A token minted through A works through B.
        let minted = api
            .post(
                nodes[0].url("/v1/enterprise/user-tokens/n1-w2-9"),
                &json!({}),
            )
            .await;
        let Ok((201, minted)) = minted else {
            panic!("mint through A: {minted:?}");
        };
        let me = api
            .client
            .get(nodes[1].url("/v1/user"))
            .bearer_auth(minted["data"]["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);

        let mut created = created.lock().await.clone();
        let url = nodes[1].url(&format!("/v1/enterprise/users/{gone}"));
        assert!(
            matches!(api.get(url).await, Ok((404, _))),
            "{gone} is gone through B"
        );
        created.remove(gone);

        // Everything written through either node reads back through node B.
        for (user_id, (data, verified)) in &created {
            let url = nodes[1].url(&format!("/v1/enterprise/users/{user_id}"));
            let found = api.get_ok(url).await["data"].clone();
            let mut expected = data.clone();
            if *verified {
                expected["requirements"]["email"] = json!(false);
            }
            assert_eq!(found, expected, "{user_id} through node B");
        }
        // Paging through B (limit 7) sees the list that A streams whole.
        let whole = api.get_ok(nodes[0].url("/v1/enterprise/users")).await;
        let whole: Vec<Value> = whole["data"].as_array().unwrap().clone();
        assert_eq!(whole.len(), users, "one gone, one more");
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..=users {
            let query = match &cursor {
                Some(c) => format!("/v1/enterprise/users?limit=7&cursor={c}"),
                None => "/v1/enterprise/users?limit=7".to_owned(),
            };
            let page = api.get_ok(nodes[1].url(&query)).await;
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= 7, "{page}");
            paged.extend(data.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(paged, whole, "pages through B equal the list through A");
        let listed: BTreeSet<&str> = paged
            .iter()
            .map(|u| u["user_id"].as_str().unwrap())
            .collect();
        let mut expected: BTreeSet<&str> = created.keys().map(String::as_str).collect();
        expected.insert("after-the-deactivation");
        assert_eq!(listed, expected);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_user_id_through_two_nodes_conflict() {
    bounded(async {
        let db = TestDatabase::postgres().await;
        let key = create_key(&db.url, "acme").await;
        let (a, b) = (Node::start("A", &db.url), Node::start("B", &db.url));
        let api = Api {
            client: http_client(REQUEST_TIMEOUT),
            key,
        };
        a.wait_ready().await;
        b.wait_ready().await;
        let nodes = Arc::new([a, b]);

        const IDS: usize = 20;
        let mut racers = tokio::task::JoinSet::new();
        for i in 0..IDS {
            let user_id = format!("contested-{i}");
            let barrier = Arc::new(Barrier::new(2));
            // Alternate which node's request is spawned first.
            for node in [i % 2, 1 - i % 2] {
                let (api, nodes, barrier, user_id) =
                    (api.clone(), nodes.clone(), barrier.clone(), user_id.clone());
                racers.spawn(async move {
                    barrier.wait().await;
                    let answer = api.register(&nodes[node], &user_id).await;
                    (user_id, node, answer)
                });
            }
        }
        let mut outcomes: BTreeMap<String, Vec<(usize, u16, Value)>> = BTreeMap::new();
        while let Some(raced) = racers.join_next().await {
            let (user_id, node, answer) = raced.unwrap();
            let (status, body) = answer.unwrap_or_else(|e| panic!("{user_id}: {e}"));
            outcomes
                .entry(user_id)
                .or_default()
                .push((node, status, body));
        }
        assert_eq!(outcomes.len(), IDS);
        let mut winners = BTreeMap::new();
        let mut wins_per_node = [0; 2];
        for (user_id, answers) in &outcomes {
            let mut statuses: Vec<u16> = answers.iter().map(|(_, s, _)| *s).collect();
            statuses.sort();
            assert_eq!(statuses, [201, 409], "{user_id}: {answers:?}");
            for (node, status, body) in answers {
                if *status == 201 {
                    winners.insert(user_id.clone(), body["data"].clone());
                    wins_per_node[*node] += 1;
                } else {
                    let error = body["error"].as_str().unwrap_or_default();
                    assert!(error.contains("already taken"), "{user_id}: {body}");
                }
            }
        }
        eprintln!(
            "wins per node: A {}, B {}",
            wins_per_node[0], wins_per_node[1]
        );

        // One user each, the winner's, readable through both nodes; one event each.
        for (user_id, data) in &winners {
            for node in nodes.iter() {
                let url = node.url(&format!("/v1/enterprise/users/{user_id}"));
                assert_eq!(
                    &api.get_ok(url).await["data"],
                    data,
                    "{user_id} via {}",
                    node.name
                );
            }
        }
        let log = log_by_id(api.event_log(&nodes[1]).await);
        assert_eq!(log.len(), IDS, "one registration event per user_id");
        let users: BTreeSet<&str> = log
            .values()
            .map(|e| e["user"]["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(users.len(), IDS);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registration_retried_on_the_other_node_with_its_idempotency_key_runs_once() {
    bounded(async {
        let db = TestDatabase::postgres().await;
        let key = create_key(&db.url, "acme").await;
        let (a, b) = (Node::start("A", &db.url), Node::start("B", &db.url));
        let client = http_client(REQUEST_TIMEOUT);
        a.wait_ready().await;
        b.wait_ready().await;
        let register = |node: &Node, idem: String, user_id: &str| {
            client
                .post(node.url("/v1/enterprise/register-account"))
                .bearer_auth(&key)
                .header("Idempotency-Key", idem)
                .json(&individual(user_id))
                .send()
        };
        for i in 0..10 {
            let user_id = format!("retried-{i}");
            let idem = format!("register-{user_id}");
            let (first, retry) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let one = register(first, idem.clone(), &user_id).await.unwrap();
            assert_eq!(one.status(), 201);
            let one = one.text().await.unwrap();
            let two = register(retry, idem.clone(), &user_id).await.unwrap();
            assert_eq!(two.status(), 201, "the retry gets the first 201");
            assert_eq!(two.headers()["idempotent-replayed"], "true");
            assert_eq!(two.text().await.unwrap(), one, "the same body");
            // Another body under that key, on either node, runs nothing.
            let other = register(retry, idem, "someone-else").await.unwrap();
            assert_eq!(other.status(), 422);
        }
        // Racing on both nodes at once with one key: one runs, one replays.
        for i in 0..10 {
            let user_id = format!("raced-{i}");
            let idem = format!("race-{user_id}");
            let (x, y) = tokio::join!(
                register(&a, idem.clone(), &user_id),
                register(&b, idem.clone(), &user_id)
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            assert_eq!((x.status().as_u16(), y.status().as_u16()), (201, 201));
            let replays = [&x, &y]
                .iter()
                .filter(|r| r.headers().contains_key("idempotent-replayed"))
                .count();
            assert_eq!(replays, 1, "{user_id}");
            assert_eq!(x.text().await.unwrap(), y.text().await.unwrap());
        }
        let api = Api {
            client: client.clone(),
            key: key.clone(),
        };
        let log = api.event_log(&a).await;
        assert_eq!(log.len(), 20, "one registration per user, none twice");
        let users: BTreeSet<&str> = log
            .iter()
            .map(|e| e["user"]["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(users.len(), 20);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edd_request_and_its_document_travel_between_nodes() {
    bounded(async {
        let db = TestDatabase::postgres().await;
        let key = create_key(&db.url, "acme").await;
        let (a, b) = (Node::start("A", &db.url), Node::start("B", &db.url));
        let client = http_client(REQUEST_TIMEOUT);
        a.wait_ready().await;
        b.wait_ready().await;
        let api = Api {
            client: client.clone(),
            key: key.clone(),
        };
        assert!(matches!(api.register(&a, "edd-user").await, Ok((201, _))));
        let opened = api
            .post(a.url("/v1/sandbox/eddq/requests"), &json!({"user_id": "edd-user"}))
            .await;
        assert!(matches!(opened, Ok((201, _))), "{opened:?}");
        let answers = json!({"user_id": "edd-user", "prompts": {
            "1": {"response": "Savings"}, "2": {"response": "Teacher"},
            "3": {"response": "Under 10,000"}, "4": {"response": "Investing"},
            "5": {"response": "No"}, "6": {"response": "address"}}});
        let answered = api.post(b.url("/v1/enterprise/eddq/responses"), &answers).await;
        let Ok((200, answered)) = answered else {
            panic!("answers through B: {answered:?}");
        };
        assert_eq!(answered["data"]["status"], "PARTIAL_SUBMISSION");

        // The named file through B, read back through A, byte for byte.
        let mut pdf = b"%PDF-1.7\n".to_vec();
        pdf.extend((0..700 * 1024).map(|i: usize| (i % 241) as u8));
        let boundary = "two-nodes-boundary";
        let mut body = Vec::new();
        for (name, value) in [("user_id", "edd-user"), ("file_types", r#"{"address.pdf": "PoR"}"#)] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"address.pdf\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(&pdf);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let uploaded = client
            .post(b.url("/v1/enterprise/ddq/upload"))
            .bearer_auth(&key)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 202);
        let requests = api.get_ok(a.url("/v1/enterprise/eddq/requests?user_id=edd-user")).await;
        assert_eq!(requests["data"][0]["status"], "IN_REVIEW");
        let documents = api.get_ok(a.url("/v1/enterprise/documents")).await;
        let id = documents["data"][0]["id"].as_i64().unwrap();
        let read = client
            .get(a.url(&format!("/v1/enterprise/documents/{id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(read.headers()["content-type"], "application/pdf");
        assert!(read.bytes().await.unwrap().as_ref() == pdf.as_slice());
        let kinds: Vec<String> = api
            .event_log(&a)
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kinds,
            ["user.registered", "edd.requested", "edd.updated", "document.uploaded", "edd.updated"]
        );
    })
    .await;
}

/// What the registering clients saw during the disturbance.
#[derive(Default)]
struct Tally {
    acked: Vec<String>,
    unavailable: usize,
    unexpected: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_database_connections_cost_503s_but_no_hang_and_no_acknowledged_user() {
    bounded(async {
        let db = TestDatabase::postgres().await;
        let database = db.postgres_name().unwrap().to_owned();
        let key = create_key(&db.url, "acme").await;
        let (a, b) = (Node::start("A", &db.url), Node::start("B", &db.url));
        let api = Api {
            client: http_client(REQUEST_TIMEOUT),
            key: key.clone(),
        };
        a.wait_ready().await;
        b.wait_ready().await;
        let nodes = Arc::new([a, b]);
        let mut subscriber = Subscriber::connect("on-B", &nodes[1], &key, Some(0)).await;
        // A second enterprise, unchanging and listed in one page (of 500), is read
        // through B meanwhile.
        let reader_api = Api {
            client: api.client.clone(),
            key: create_key(&db.url, "globex").await,
        };
        let mut registering = tokio::task::JoinSet::new();
        for batch in 0..8 {
            let (api, nodes) = (reader_api.clone(), nodes.clone());
            registering.spawn(async move {
                for i in (batch..200).step_by(8) {
                    let answer = api.register(&nodes[1], &format!("g-{i}")).await;
                    assert!(matches!(answer, Ok((201, _))), "{answer:?}");
                }
            });
        }
        while let Some(done) = registering.join_next().await {
            done.unwrap();
        }

        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..4 {
            let (api, nodes, stop, tally) =
                (api.clone(), nodes.clone(), stop.clone(), tally.clone());
            writers.spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let user_id = format!("load-{writer}-{i}");
                    i += 1;
                    let answer = api.register(&nodes[0], &user_id).await;
                    let mut tally = tally.lock().await;
                    match answer {
                        Ok((201, _)) => tally.acked.push(user_id),
                        Ok((503, body)) => {
                            assert!(
                                body["error"].as_str().is_some_and(|e| !e.is_empty()),
                                "a 503 says why: {body}"
                            );
                            tally.unavailable += 1;
                        }
                        other => tally.unexpected.push(format!("{user_id}: {other:?}")),
                    }
                }
            });
        }
        // Reads answer 200 with a whole body, or 503: never a body cut short.
        let reader = {
            let (api, nodes, stop) = (reader_api.clone(), nodes.clone(), stop.clone());
            tokio::spawn(async move {
                let paths = [
                    "/v1/enterprise/users",
                    "/v1/enterprise/users?limit=2",
                    "/v1/enterprise/users/g-1",
                    "/v1/enterprise/events?after=0",
                ];
                let (mut answers, mut unexpected) = (BTreeMap::<u16, usize>::new(), Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    for path in paths {
                        match api.get(nodes[1].url(path)).await {
                            Ok((200, body)) if !body.is_null() => {
                                *answers.entry(200).or_default() += 1;
                            }
                            Ok((503, _)) => *answers.entry(503).or_default() += 1,
                            other => unexpected.push(format!("GET {path}: {other:?}")),
                        }
                    }
                }
                (answers, unexpected)
            })
        };
        // /readyz answers (200 or 503) on both nodes throughout.
        let probe = {
            let (client, nodes, stop) = (api.client.clone(), nodes.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut answers, mut unexpected) = (BTreeMap::<u16, usize>::new(), Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    for node in nodes.iter() {
                        let response = client
                            .get(node.url("/readyz"))
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await;
                        match response.map(|r| r.status().as_u16()) {
                            Ok(status @ (200 | 503)) => *answers.entry(status).or_default() += 1,
                            Ok(status) => unexpected.push(format!("{}: {status}", node.name)),
                            Err(e) => unexpected.push(format!("{}: {}", node.name, describe(e))),
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (answers, unexpected)
            })
        };
        // The disturbance: every connection to the test database, of both nodes,
        // is terminated, a dozen times over.
        let mut admin = sqlx::PgConnection::connect(&onboard_testkit::postgres_server_url())
            .await
            .expect("the admin database is reachable");
        tokio::time::sleep(Duration::from_millis(800)).await;
        let mut terminated = 0;
        for _ in 0..12 {
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&database)
            .fetch_all(&mut admin)
            .await
            .expect("terminating backends works");
            terminated += killed.into_iter().filter(|k| *k).count();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let _ = admin.close().await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        stop.store(true, Ordering::SeqCst);
        while let Some(done) = writers.join_next().await {
            done.expect("a writer finished cleanly");
        }
        let (readiness, not_ready) = probe.await.unwrap();
        let (reads, bad_reads) = reader.await.unwrap();

        let tally = std::mem::take(&mut *tally.lock().await);
        eprintln!(
            "{} registrations acknowledged, {} answered 503; {terminated} backends terminated; \
             /readyz answers {readiness:?}; reads of the other enterprise {reads:?}",
            tally.acked.len(),
            tally.unavailable,
        );
        assert!(terminated > 0, "the disturbance happened");
        assert!(
            tally.unexpected.is_empty(),
            "only 201 or 503, never a timeout or a 500: {:?}",
            tally.unexpected
        );
        assert!(
            not_ready.is_empty(),
            "/readyz always answered: {not_ready:?}"
        );
        assert!(bad_reads.is_empty(), "reads got 200 or 503: {bad_reads:?}");
        assert!(!tally.acked.is_empty());

        // Both nodes recover by themselves.
        nodes[0].wait_ready().await;
        nodes[1].wait_ready().await;
        // Every acknowledged user is there, read through the other node.
        for user_id in &tally.acked {
            let url = nodes[1].url(&format!("/v1/enterprise/users/{user_id}"));
            api.get_ok(url).await;
        }
        // The log holds each acknowledged registration once (and maybe users whose
        // answer was lost with their connection), and the feed on B delivers the
        // whole log exactly once, in order.
        let log = log_by_id(api.event_log(&nodes[1]).await);
        let mut registered = BTreeSet::new();
        for event in log.values() {
            assert_eq!(event["type"], "user.registered");
            let user_id = event["user"]["user_id"].as_str().unwrap();
            assert!(registered.insert(user_id), "{user_id} registered twice");
        }
        let lost: Vec<&String> = tally
            .acked
            .iter()
            .filter(|u| !registered.contains(u.as_str()))
            .collect();
        assert!(lost.is_empty(), "acknowledged but not in the log: {lost:?}");
        let all: Vec<i64> = log.keys().copied().collect();
        subscriber
            .assert_exactly(&all, Duration::from_secs(20))
            .await;
        assert_matches_log(&subscriber, &log);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_starting_together_on_an_empty_database_migrate_once_and_print_one_key() {
    bounded(async {
        let db = TestDatabase::postgres().await;
        let client = http_client(REQUEST_TIMEOUT);
        let (a, b) = (Node::start("A", &db.url), Node::start("B", &db.url));
        a.wait_ready().await;
        b.wait_ready().await;

        // Exactly one node created the first enterprise and printed its key.
        let printed: Vec<(&str, String)> = [&a, &b]
            .into_iter()
            .filter_map(|node| {
                let out = node.stdout();
                out.contains("API key").then_some((node.name, out))
            })
            .collect();
        assert_eq!(printed.len(), 1, "one first-run key: {printed:?}");
        let key = printed[0]
            .1
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("onb_"))
            .expect("the key is on a line of its own")
            .to_owned();
        for node in [&a, &b] {
            let response = client
                .get(node.url("/v1/enterprise/users"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                200,
                "the key works on node {}",
                node.name
            );
        }
        let list = tokio::process::Command::new(BIN)
            .args(["enterprise", "list", "--database-url", &db.url])
            .env(
                "ONBOARD_MASTER_KEY_FILE",
                onboard_testkit::process::shared_keyring(),
            )
            .kill_on_drop(true)
            .output();
        let list = tokio::time::timeout(Duration::from_secs(30), list)
            .await
            .expect("enterprise list finishes")
            .expect("onboard runs");
        let listed = String::from_utf8(list.stdout).unwrap();
        assert_eq!(
            listed.lines().count(),
            2,
            "a header and one enterprise: {listed}"
        );
        assert!(
            listed.lines().nth(1).unwrap().ends_with(" default"),
            "{listed}"
        );
    })
    .await;
}

/// A TCP proxy in front of PostgreSQL that can be cut: while cut, every open
/// connection through it is dropped and new ones are closed at once, as when the
/// database host goes away.
struct Proxy {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if *watch.borrow() {
                    continue; // dropped: the client sees its connection close
                }
                let (upstream, mut watch) = (upstream.clone(), watch.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Proxy { port, cut, task }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `postgres://user@host:port/db?…` → (`host:port`, the URL with `host:port`
/// replaced by `local`).
fn through_proxy(url: &str, local: &str) -> (String, String) {
    let start = url.find("://").unwrap() + 3;
    let at = url[start..].find('@').map_or(start, |i| start + i + 1);
    let end = url[at..].find(['/', '?']).map_or(url.len(), |i| at + i);
    let authority = &url[at..end];
    let upstream = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    };
    (upstream, format!("{}{local}{}", &url[..at], &url[end..]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_from_postgresql_answers_503_keeps_its_feeds_and_resumes() {
    bounded(async {
        let db = TestDatabase::postgres().await;
        let key = create_key(&db.url, "acme").await;
        let (upstream, _) = through_proxy(&db.url, "");
        let proxy = Proxy::start(upstream).await;
        let (_, proxied) = through_proxy(&db.url, &format!("127.0.0.1:{}", proxy.port));
        // Node A reaches PostgreSQL through the proxy; node B directly.
        let a = Node::start_with("A", &proxied, &["--db-acquire-timeout-ms", "1000"]);
        let b = Node::start("B", &db.url);
        let api = Api {
            client: http_client(REQUEST_TIMEOUT),
            key: key.clone(),
        };
        a.wait_ready().await;
        b.wait_ready().await;
        let mut subscriber = Subscriber::connect("on-A", &a, &key, Some(0)).await;
        for i in 0..5 {
            let answer = api.register(&a, &format!("before-{i}")).await;
            assert!(matches!(answer, Ok((201, _))), "{answer:?}");
        }

        proxy.set_cut(true);
        // /readyz says so (bounded: never a hang)...
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = api.client.get(a.url("/readyz")).send().await;
            match ready.map(|r| r.status().as_u16()) {
                Ok(503) => break,
                Ok(200) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("/readyz while cut off: {other:?}"),
            }
        }
        let healthz = api.client.get(a.url("/healthz")).send().await.unwrap();
        assert_eq!(healthz.status(), 200, "the process itself is fine");
        // ...and every API call answers 503 with a sentence, not a 500 or a hang.
        let calls: [(&str, Answer); 6] = [
            ("register", api.register(&a, "during").await),
            ("get", api.get(a.url("/v1/enterprise/users/before-0")).await),
            ("page", api.get(a.url("/v1/enterprise/users?limit=2")).await),
            ("list", api.get(a.url("/v1/enterprise/users")).await),
            (
                "events",
                api.get(a.url("/v1/enterprise/events?after=0")).await,
            ),
            (
                "verify",
                api.post(
                    a.url("/v1/enterprise/users/verify/before-0"),
                    &json!({"type": "email", "otp": "123456"}),
                )
                .await,
            ),
        ];
        for (call, answer) in calls {
            match answer {
                Ok((503, body)) => assert_eq!(
                    body["error"], "the database is unavailable; try again shortly",
                    "{call}"
                ),
                other => panic!("{call} while cut off: {other:?}"),
            }
        }
        // A new feed connection gets an answer (the key may be known from before
        // the cut, so authenticate can succeed; anything needing the database is
        // refused with a reason), and it stays open.
        let connect = tokio_tungstenite::connect_async(a.ws.as_str());
        let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .unwrap()
            .unwrap();
        let auth = json!({"type": "authenticate", "apiKey": key, "enterprise": true});
        ws.send(Message::text(auth.to_string())).await.unwrap();
        let reply = tokio::time::timeout(REQUEST_TIMEOUT, ws.next())
            .await
            .expect("an answer to authenticate")
            .unwrap()
            .unwrap();
        let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
        assert!(
            matches!(reply["type"].as_str(), Some("success" | "error")),
            "{reply}"
        );
        assert_eq!(reply["action"], "authenticate", "{reply}");
        let unsubscribe = json!({"type": "unsubscribe", "feeds": ["private.enterprise.users"]});
        ws.send(Message::text(unsubscribe.to_string()))
            .await
            .unwrap();
        let still_open = tokio::time::timeout(REQUEST_TIMEOUT, ws.next())
            .await
            .expect("the connection still answers")
            .unwrap()
            .unwrap();
        let still_open: Value = serde_json::from_str(still_open.to_text().unwrap()).unwrap();
        assert_eq!(still_open["action"], "unsubscribe", "{still_open}");
        // Meanwhile node B keeps writing.
        for i in 0..5 {
            let answer = api.register(&b, &format!("through-b-{i}")).await;
            assert!(matches!(answer, Ok((201, _))), "{answer:?}");
        }

        proxy.set_cut(false);
        a.wait_ready().await;
        for i in 0..5 {
            let answer = api.register(&a, &format!("after-{i}")).await;
            assert!(matches!(answer, Ok((201, _))), "{answer:?}");
        }
        // The subscriber kept its connection and resumed from the log: everything,
        // in order, exactly once.
        let all: Vec<i64> = (1..=15).collect();
        subscriber
            .assert_exactly(&all, Duration::from_secs(15))
            .await;
        let log = log_by_id(api.event_log(&a).await);
        assert_matches_log(&subscriber, &log);
        let users: Vec<&str> = log
            .values()
            .map(|e| e["user"]["user_id"].as_str().unwrap())
            .collect();
        assert!(
            !users.contains(&"during"),
            "nothing was written while cut off"
        );
        let listed = api.get_ok(a.url("/v1/enterprise/users")).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 15);
    })
    .await;
}

#[test]
fn database_urls_are_pointed_at_the_proxy() {
    assert_eq!(
        through_proxy("postgres://postgres@127.0.0.1:5432/t1", "127.0.0.1:9"),
        (
            "127.0.0.1:5432".to_owned(),
            "postgres://postgres@127.0.0.1:9/t1".to_owned()
        )
    );
    assert_eq!(
        through_proxy("postgres://u:p@db/t1?sslmode=disable", "127.0.0.1:9"),
        (
            "db:5432".to_owned(),
            "postgres://u:p@127.0.0.1:9/t1?sslmode=disable".to_owned()
        )
    );
}
