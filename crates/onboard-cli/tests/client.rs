//! `onboard-client` against `onboard serve --sandbox` as a real process, through
//! a real socket: the REST calls an integrator makes, the feed with `after`, its
//! resume across server restarts, its fatal refusals, and both over TLS.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use onboard_api::{FeedMessage, UNAUTHORIZED};
use onboard_client::{
    Backoff, Certificates, Channel, Client, Error, FeedClient, FeedError, FeedUpdate, StatusCode,
    Subscription, UserFilter,
};
use onboard_testkit::fixtures::individual;
use serde_json::json;
use support::{Server, TlsProxy, free_port, reject};

const FAST: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_millis(400),
};

fn api_error(result: Result<impl std::fmt::Debug, Error>) -> (StatusCode, onboard_api::ErrorBody) {
    match result {
        Err(Error::Api { status, body, .. }) => (status, body),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The newest code sent to `user_id` on `channel`, read from the sandbox outbox.
async fn code(client: &Client, user_id: &str, channel: &str) -> String {
    let messages = client.sandbox_messages(user_id).await.unwrap();
    messages
        .iter()
        .find(|m| m.channel == channel)
        .map(|m| m.code.clone())
        .unwrap_or_else(|| panic!("no {channel} code for {user_id}: {messages:?}"))
}

/// The next `n` events, within `wait` altogether; also counts the reconnects seen.
async fn messages(
    subscription: &mut Subscription,
    n: usize,
    wait: Duration,
) -> (Vec<FeedMessage>, usize) {
    let deadline = tokio::time::Instant::now() + wait;
    let (mut got, mut reconnects) = (Vec::new(), 0);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, subscription.next()).await {
            Ok(Ok(FeedUpdate::Message(message))) => got.push(*message),
            Ok(Ok(FeedUpdate::Reconnecting { .. })) => reconnects += 1,
            Ok(Ok(_)) => {}
            other => panic!("{} of {n} events within {wait:?}: {other:?}", got.len()),
        }
    }
    (got, reconnects)
}

/// No event arrives for `wait`.
async fn quiet(subscription: &mut Subscription, wait: Duration) {
    if let Ok(more) = tokio::time::timeout(wait, subscription.next_message()).await {
        panic!("an event more than expected: {more:?}");
    }
}

fn ids(events: &[FeedMessage]) -> Vec<i64> {
    events.iter().map(|e| e.event_id).collect()
}

#[tokio::test]
async fn the_rest_client_registers_reads_lists_verifies_and_mints_tokens() {
    let (dir, key) = support::setup().await;
    let server = Server::start(dir.path(), free_port()).await;
    let client = Client::new(&server.base, key.as_str()).unwrap();

    // Register and read back: the full shape, masked.
    let user = client.register(&individual("c-1")).await.unwrap();
    assert_eq!(
        (user.user_id.as_str(), user.status.as_str()),
        ("c-1", "PENDING")
    );
    assert!(user.requirements.email && user.requirements.sms);
    let individual_part = user.individual.as_ref().expect("an individual");
    assert_eq!(individual_part.id_number, "*****6789");
    let read = client.user("c-1").await.unwrap();
    assert_eq!(read.id, user.id);
    assert_eq!(read.individual, user.individual);

    for id in ["c-2", "c-3"] {
        client.register(&individual(id)).await.unwrap();
    }
    let mut advisor = individual("a-1");
    advisor["account_role"] = json!("advisor");
    assert_eq!(
        client.register(&advisor).await.unwrap().account_role,
        "Advisor"
    );

    // The whole list, and the same list page by page.
    let all: BTreeSet<String> = client
        .users(&UserFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(
        all,
        BTreeSet::from(["a-1", "c-1", "c-2", "c-3"].map(String::from))
    );
    let (mut paged, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let page = client
            .users_page(&UserFilter::default(), 3, cursor.as_deref())
            .await
            .unwrap();
        assert!(page.data.len() <= 3);
        paged.extend(page.data.into_iter().map(|u| u.user_id));
        pages += 1;
        assert!(pages <= 3, "paging does not end");
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(paged.len(), 4, "no user twice: {paged:?}");
    assert_eq!(paged.into_iter().collect::<BTreeSet<_>>(), all);
    let advisors = client
        .users(&UserFilter::default().account_role("ADVISOR"))
        .await
        .unwrap();
    assert_eq!(advisors.len(), 1);
    assert_eq!(advisors[0].user_id, "a-1");
    let verified = UserFilter::default().status("verified");
    assert!(client.users(&verified).await.unwrap().is_empty());

    // Refusals come back typed, with the server's body.
    let (status, body) = api_error(client.register(&individual("c-1")).await);
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(!body.error.is_empty());
    let mut invalid = individual("c-9");
    invalid["email"] = json!("not an address");
    invalid["individual"]["dob"] = json!("tomorrow");
    let (status, body) = api_error(client.register(&invalid).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = body.errors.iter().map(|p| p.field.as_str()).collect();
    assert!(
        fields.contains(&"email") && fields.contains(&"individual.dob"),
        "{fields:?}"
    );
    let (status, _) = api_error(client.user("nobody").await);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stranger = Client::new(&server.base, "not-a-key").unwrap();
    let (status, body) = api_error(stranger.user("c-1").await);
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::UNAUTHORIZED, UNAUTHORIZED)
    );
    // Registration sent an email code a moment ago: a new one must wait.
    match client.send_verification("c-1", Channel::Email).await {
        Err(Error::Api {
            status,
            retry_after,
            ..
        }) => {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            assert!(retry_after.is_some_and(|w| w <= Duration::from_secs(30)));
        }
        other => panic!("expected a 429, got {other:?}"),
    }

    // Verification through the sandbox outbox: email, then sms.
    let wrong = client.verify("c-1", Channel::Email, "000000").await;
    let right = code(&client, "c-1", "email").await;
    if right != "000000" {
        assert_eq!(api_error(wrong).0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let done = client.verify("c-1", Channel::Email, &right).await.unwrap();
    assert!(done.success);
    assert_eq!(
        (done.user_id.as_str(), done.r#type.as_str()),
        ("c-1", "email")
    );
    let sent = client.send_verification("c-1", Channel::Sms).await.unwrap();
    assert_eq!(sent.r#type, "sms");
    assert_eq!(
        sent.phone_number.as_deref(),
        Some(user.phone_number.as_str())
    );
    let otp = code(&client, "c-1", "sms").await;
    client.verify("c-1", Channel::Sms, &otp).await.unwrap();
    let now = client.user("c-1").await.unwrap();
    assert_eq!(now.status, "VERIFIED");
    assert!(!now.requirements.email && !now.requirements.sms);
    assert_eq!(client.users(&verified).await.unwrap().len(), 1);

    // User tokens, one and many; each opens `GET /v1/user`.
    let token = client.user_token("c-1").await.unwrap();
    assert_eq!(token.partner_user_id, "c-1");
    assert_eq!(
        client.token_user(&token.token).await.unwrap().user_id,
        "c-1"
    );
    let tokens = client.user_tokens(&["c-2", "c-3"]).await.unwrap();
    let owners: Vec<&str> = tokens.iter().map(|t| t.partner_user_id.as_str()).collect();
    assert_eq!(owners, ["c-2", "c-3"]);
    let (status, _) = api_error(client.user_tokens(&["c-2", "nobody"]).await);
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deactivation: gone from the list, its tokens stop working, a second is a 404.
    client.deactivate("c-3").await.unwrap();
    let listed = client.users(&UserFilter::default()).await.unwrap();
    assert!(listed.iter().all(|u| u.user_id != "c-3"));
    let (status, _) = api_error(client.token_user(&tokens[1].token).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = api_error(client.deactivate("c-3").await);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body.error, "The account does not exist to be disabled.");

    // The event log: four registrations, two verifications, one deactivation.
    let events = client.events(0, None).await.unwrap();
    let log: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|e| (e.event_id, e.r#type.as_str(), e.user.user_id.as_str()))
        .collect();
    assert_eq!(
        log,
        [
            (1, "user.registered", "c-1"),
            (2, "user.registered", "c-2"),
            (3, "user.registered", "c-3"),
            (4, "user.registered", "a-1"),
            (5, "user.updated", "c-1"),
            (6, "user.updated", "c-1"),
            (7, "user.deactivated", "c-3"),
        ]
    );
    let tail = client.events(5, Some(1)).await.unwrap();
    assert_eq!(ids_of(&tail), [6]);
    assert_eq!(tail[0].user.status, "VERIFIED");
}

fn ids_of(events: &[onboard_api::EventOut]) -> Vec<i64> {
    events.iter().map(|e| e.event_id).collect()
}

#[tokio::test]
async fn the_feed_starts_after_an_event_and_resumes_across_restarts_without_gap_or_duplicate() {
    let (dir, key) = support::setup().await;
    let port = free_port();
    let server = Server::start(dir.path(), port).await;
    let client = Client::new(&server.base, key.as_str()).unwrap();
    for id in ["f-1", "f-2", "f-3"] {
        client.register(&individual(id)).await.unwrap();
    }

    let feed = FeedClient::new(&server.ws(), key.as_str())
        .unwrap()
        .backoff(FAST);
    let mut subscription = feed.subscribe(Some(1));
    let (mut seen, _) = messages(&mut subscription, 2, Duration::from_secs(15)).await;
    assert_eq!(ids(&seen), [2, 3]);
    assert_eq!(seen[0].payload.user_id, "f-2");
    assert!(seen[0].sequence < seen[1].sequence);
    client.register(&individual("f-4")).await.unwrap();
    seen.extend(
        messages(&mut subscription, 1, Duration::from_secs(10))
            .await
            .0,
    );

    // The server dies; a change lands while it is down; it comes back.
    server.kill_hard().await;
    let out = reject("f-2", dir.path()).await;
    assert!(out.contains("UNSUPPORTED"), "{out}");
    let server = Server::start(dir.path(), port).await;
    client.register(&individual("f-5")).await.unwrap();
    let otp = code(&client, "f-5", "email").await;
    client.verify("f-5", Channel::Email, &otp).await.unwrap();
    let (resumed, reconnects) = messages(&mut subscription, 3, Duration::from_secs(20)).await;
    assert!(reconnects >= 1, "the drop was reported");
    assert_eq!(resumed[0].payload.user_id, "f-2");
    assert_eq!(resumed[0].payload.status, "UNSUPPORTED");
    seen.extend(resumed);

    // A graceful stop says goodbye; the subscription comes back all the same.
    server.stop().await;
    let _server = Server::start(dir.path(), port).await;
    client.register(&individual("f-6")).await.unwrap();
    seen.extend(
        messages(&mut subscription, 1, Duration::from_secs(20))
            .await
            .0,
    );
    quiet(&mut subscription, Duration::from_millis(300)).await;

    assert_eq!(ids(&seen), (2..=8).collect::<Vec<_>>());
    let logged: Vec<i64> = ids_of(&client.events(1, None).await.unwrap());
    assert_eq!(ids(&seen), logged);
    assert_eq!(subscription.after(), Some(8));

    // A live-only subscription learns where it starts, then gets only what is new.
    let mut live = feed.subscribe(None);
    match tokio::time::timeout(Duration::from_secs(10), live.next()).await {
        Ok(Ok(FeedUpdate::Subscribed { after })) => assert_eq!(after, 8),
        other => panic!("expected the subscription's start, got {other:?}"),
    }
    client.register(&individual("f-7")).await.unwrap();
    let (fresh, _) = messages(&mut live, 1, Duration::from_secs(10)).await;
    assert_eq!(ids(&fresh), [9]);
    assert_eq!(
        ids(&messages(&mut subscription, 1, Duration::from_secs(10))
            .await
            .0),
        [9]
    );
    live.close().await;
}

#[tokio::test]
async fn the_feed_ends_with_a_typed_error_when_the_key_or_the_history_is_refused() {
    let (dir, key) = support::setup().await;
    let server = Server::start(dir.path(), free_port()).await;
    let client = Client::new(&server.base, key.as_str()).unwrap();
    client.register(&individual("e-1")).await.unwrap();

    let wait = Duration::from_secs(10);
    let stranger = FeedClient::new(&server.ws(), "not-a-key").unwrap();
    let mut refused = stranger.subscribe(Some(0));
    let error = tokio::time::timeout(wait, refused.next_message())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, FeedError::AuthenticateRefused(_)),
        "{error}"
    );
    // Ended for good: the same error again, without reconnecting.
    assert_eq!(refused.next().await.unwrap_err(), error);

    let feed = FeedClient::new(&server.ws(), key.as_str()).unwrap();
    let mut beyond = feed.subscribe(Some(5));
    let error = tokio::time::timeout(wait, beyond.next_message())
        .await
        .unwrap()
        .unwrap_err();
    match error {
        FeedError::SubscribeRefused(why) => assert!(why.contains("beyond"), "{why}"),
        other => panic!("expected a subscribe refusal, got {other}"),
    }
}

#[tokio::test]
async fn both_clients_work_over_tls_with_a_trusted_root_and_refuse_an_unknown_one() {
    let (dir, key) = support::setup().await;
    let server = Server::start(dir.path(), free_port()).await;
    let proxy = TlsProxy::start(server.port).await;
    let roots = Certificates::from_pem(proxy.cert_pem.as_bytes()).unwrap();
    assert_eq!(roots.len(), 1);

    let https = format!("https://localhost:{}", proxy.port);
    let client = Client::builder(&https, key.as_str())
        .trust_only(Certificates::from_der(proxy.cert_der.clone()))
        .build()
        .unwrap();
    client.register(&individual("t-1")).await.unwrap();
    assert_eq!(client.user("t-1").await.unwrap().user_id, "t-1");
    let untrusting = Client::new(&https, key.as_str()).unwrap();
    match untrusting.user("t-1").await {
        Err(Error::Http(e)) => assert!(e.is_connect(), "{e:?}"),
        other => panic!("an unknown certificate was accepted: {other:?}"),
    }

    let wss = format!("wss://localhost:{}/ws", proxy.port);
    let feed = FeedClient::new(&wss, key.as_str())
        .unwrap()
        .trust_only(&roots)
        .unwrap();
    let mut subscription = feed.subscribe(Some(0));
    let (seen, _) = messages(&mut subscription, 1, Duration::from_secs(15)).await;
    assert_eq!(seen[0].payload.user_id, "t-1");
    client.register(&individual("t-2")).await.unwrap();
    let (live, _) = messages(&mut subscription, 1, Duration::from_secs(10)).await;
    assert_eq!(ids(&live), [2]);

    let public_roots_only = FeedClient::new(&wss, key.as_str()).unwrap();
    let mut refused = public_roots_only.subscribe(Some(0));
    match tokio::time::timeout(Duration::from_secs(10), refused.next()).await {
        Ok(Ok(FeedUpdate::Reconnecting { reason, .. })) => {
            assert!(reason.contains("certificate"), "{reason}");
        }
        other => panic!("an unknown certificate was accepted: {other:?}"),
    }
}
