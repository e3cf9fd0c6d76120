//! Paging (CONTRACT §2, extensions): with `limit`, one page and a `next_cursor`;
//! without it, the whole list streamed. Both must show every user exactly once,
//! even while users are being added.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::watch;

use crate::fixtures;
use crate::helpers::{TestApp, assert_error, counts, spawn_app, user_ids};

/// One page: its user ids and its `next_cursor`.
async fn page(app: &TestApp, query: &str) -> (Vec<String>, Option<String>) {
    let response = app.list(&app.key_a, query).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "?{query}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let object = body.as_object().unwrap();
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["data", "next_cursor"],
        "?{query}"
    );
    let ids = user_ids(body["data"].as_array().unwrap());
    let next = match &body["next_cursor"] {
        Value::Null => None,
        Value::String(cursor) => Some(cursor.clone()),
        other => panic!("next_cursor is {other}"),
    };
    (ids, next)
}

fn query(limit: u32, cursor: &Option<String>) -> String {
    match cursor {
        Some(cursor) => format!("limit={limit}&cursor={cursor}"),
        None => format!("limit={limit}"),
    }
}

/// Follows `next_cursor` from the first page to the last; the ids of each page.
async fn walk(app: &TestApp, limit: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let (ids, next) = page(app, &query(limit, &cursor)).await;
        assert!(ids.len() <= limit as usize);
        pages.push(ids);
        match next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

fn individuals(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| fixtures::individual(&format!("{prefix}-{i:04}")))
        .collect()
}

#[tokio::test]
async fn with_a_limit_pages_are_linked_by_next_cursor_until_it_is_null() {
    let app = spawn_app().await;
    app.register_all(&app.key_a, individuals("user", 10)).await;

    let pages = walk(&app, 4).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 4, 2]);
    let all: Vec<String> = pages.into_iter().flatten().collect();
    assert_eq!(all.len(), 10);
    assert!(counts(&all).values().all(|n| *n == 1), "{all:?}");

    // A page size that divides the list evenly still reaches the end.
    let all: Vec<String> = walk(&app, 5).await.into_iter().flatten().collect();
    assert_eq!(all.len(), 10);
    assert_eq!(counts(&all).len(), 10);

    // The pages together are the unpaged list, in the same order.
    assert_eq!(
        walk(&app, 3)
            .await
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
        app.list_ids(&app.key_a, "").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn walking_pages_while_users_are_added_sees_every_earlier_user_exactly_once() {
    let app = spawn_app().await;
    let earlier = individuals("before", 40);
    app.register_all(&app.key_a, earlier).await;

    // A writer that keeps registering (up to a cap, so the walk must end) and
    // reports how many it has added.
    let (progress_tx, mut progress) = watch::channel(0usize);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let client = app.client.clone();
        let url = app.url("/v1/enterprise/register-account");
        let key = app.key_a.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut added = Vec::new();
            for i in 0..80 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let id = format!("during-{i:04}");
                let response = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&fixtures::individual(&id))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
                added.push(id);
                progress_tx.send_replace(added.len());
            }
            added
        })
    };

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (ids, next) = page(&app, &query(7, &cursor)).await;
        pages += 1;
        seen.extend(ids);
        let Some(next) = next else { break };
        cursor = Some(next);
        // Let at least one more registration land before the next page.
        let before = *progress.borrow_and_update();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), progress.wait_for(|n| *n > before)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let added = writer.await.expect("the writer failed");

    assert!(pages >= 6, "only {pages} pages for 40+ users at 7 a page");
    assert!(
        !added.is_empty(),
        "the writer added nobody while the walk ran"
    );
    let times = counts(&seen);
    let duplicates: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "seen more than once: {duplicates:?}");
    for i in 0..40 {
        let id = format!("before-{i:04}");
        assert_eq!(times.get(id.as_str()), Some(&1), "{id} was not seen once");
    }
    let added: HashSet<&str> = added.iter().map(String::as_str).collect();
    for id in times.keys().filter(|id| id.starts_with("during-")) {
        assert!(added.contains(id), "{id} was never registered");
    }
}

#[tokio::test]
async fn a_limit_or_cursor_that_is_not_valid_is_400() {
    let app = spawn_app().await;
    app.register_all(&app.key_a, individuals("user", 3)).await;
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-1",
        "limit=2.5",
        "limit=99999999999999999999",
        "limit=5&cursor=garbage",
        "limit=5&cursor=c",
        "limit=5&cursor=c-1",
        "limit=5&cursor=cxyz",
        "limit=5&cursor=c10000000000000000",
        "cursor=c1",
    ] {
        let body = assert_error(app.list(&app.key_a, query).await, StatusCode::BAD_REQUEST).await;
        assert!(body["errors"].is_null(), "?{query}: {body}");
    }
    // The bounds themselves are fine.
    for limit in [1, 1000] {
        let (ids, _) = page(&app, &format!("limit={limit}")).await;
        assert_eq!(ids.len(), limit.min(3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_limit_the_streamed_list_spans_several_internal_pages_with_every_user_once() {
    let app = spawn_app().await;
    // 1203 users: more than two internal pages of 500, every third an advisor.
    let bodies: Vec<Value> = (0..1203)
        .map(|i| {
            let id = format!("load-{i:04}");
            if i % 3 == 0 {
                fixtures::advisor(&id)
            } else {
                fixtures::individual(&id)
            }
        })
        .collect();
    app.register_all(&app.key_a, bodies).await;
    // Enterprise B's users must not leak into A's stream.
    app.register_all(&app.key_b, individuals("other", 5)).await;

    let response = app.list(&app.key_a, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.content_length(),
        None,
        "the full list should be streamed, not buffered with a Content-Length"
    );
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).expect("the streamed list is not valid JSON");
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["data"]
    );
    let ids = user_ids(body["data"].as_array().unwrap());
    assert_eq!(ids.len(), 1203);
    let times = counts(&ids);
    assert_eq!(times.len(), 1203);
    assert!(times.keys().all(|id| id.starts_with("load-")));

    // A filter over the stream crosses the internal pages the same way.
    let advisors = app.list_ids(&app.key_a, "accountRole=advisor").await;
    assert_eq!(advisors.len(), 401);
    assert_eq!(counts(&advisors).len(), 401);
    let clients = app.list_ids(&app.key_a, "accountRole=client").await;
    assert_eq!(clients.len(), 802);
    assert_eq!(app.list_ids(&app.key_a, "status=pending").await.len(), 1203);

    // And the paged walk agrees with the stream, in order.
    let pages = walk(&app, 500).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [500, 500, 203]);
    assert_eq!(pages.into_iter().flatten().collect::<Vec<_>>(), ids);
}

#[tokio::test]
async fn cursors_are_sealed_per_enterprise_and_tell_nothing_of_other_enterprises() {
    let app = spawn_app().await;
    app.register_all(&app.key_a, individuals("a", 4)).await;
    let (first_ids, first) = page(&app, "limit=2").await;
    let first = first.expect("a second page");
    // Another enterprise registers in between; the next cursor of the same place
    // in A's list must not move with it, nor be readable.
    app.register_all(&app.key_b, individuals("b", 20)).await;
    let (_, again) = page(&app, "limit=2").await;
    let again = again.expect("a second page");
    assert_ne!(first, again, "each cursor is sealed under a fresh nonce");
    assert_eq!(first.len(), again.len(), "{first} {again}");
    let (ids_first, _) = page(&app, &format!("limit=2&cursor={first}")).await;
    let (ids_again, _) = page(&app, &format!("limit=2&cursor={again}")).await;
    assert_eq!(ids_first.len(), 2);
    assert!(
        ids_first
            .iter()
            .all(|id| id.starts_with("a-") && !first_ids.contains(id))
    );
    assert_eq!(ids_first, ids_again);

    // Edited at any one character, it is refused.
    for i in [1, first.len() / 2, first.len() - 1] {
        let mut edited = first.clone().into_bytes();
        edited[i] = if edited[i] == b'0' { b'1' } else { b'0' };
        let edited = String::from_utf8(edited).unwrap();
        let query = format!("limit=2&cursor={edited}");
        let body = assert_error(app.list(&app.key_a, &query).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"], "cursor is not one this server issued");
    }
    // Another enterprise cannot use it.
    let query = format!("limit=2&cursor={first}");
    assert_error(app.list(&app.key_b, &query).await, StatusCode::BAD_REQUEST).await;
}
