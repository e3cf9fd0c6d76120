//! Webhook URLs aimed back inside (CONTRACT §9): names that resolve to IPv6
//! forms of IPv4 loopback, and URLs that can never be sent to, are refused when
//! the endpoint is created, and again at every send.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onboard_delivery::outgoing::{Lookup, LookupFuture};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{AppOptions, TestApp, spawn_app_with};

/// Each IPv6 form that stands for 127.0.0.1, or for no usable address.
const FORMS: [(&str, &str); 5] = [
    ("compatible.test", "::127.0.0.1"),
    ("six-to-four.test", "2002:7f00:1::"),
    ("translated.test", "::ffff:0:7f00:1"),
    ("teredo.test", "2001:0:4136:e378:8000:63bf:80ff:fffe"),
    ("discard.test", "100::1"),
];

/// A resolver whose answers the test writes: each name stands for one address.
#[derive(Default)]
struct Table(Mutex<HashMap<String, IpAddr>>);

impl Table {
    fn set(&self, host: &str, ip: &str) {
        let ip = ip.parse().unwrap();
        self.0.lock().unwrap().insert(host.to_owned(), ip);
    }
}

impl Lookup for Table {
    fn lookup(&self, host: String, port: u16) -> LookupFuture {
        let found = self.0.lock().unwrap().get(&host).copied();
        Box::pin(async move {
            let ip = found.ok_or_else(|| std::io::Error::other("no such name"))?;
            Ok(vec![SocketAddr::new(ip, port)])
        })
    }
}

async fn app_resolving_with(table: &Arc<Table>) -> TestApp {
    spawn_app_with(AppOptions {
        webhook_lookup: Some(table.clone()),
        ..AppOptions::default()
    })
    .await
}

async fn create(app: &TestApp, url: &str) -> (StatusCode, Value) {
    let body = json!({ "url": url });
    let response = app
        .post_json(&app.key_a, "/v1/enterprise/webhooks", &body)
        .await;
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn names_resolving_to_ipv6_forms_of_loopback_are_refused_at_creation() {
    let table = Arc::new(Table::default());
    let app = app_resolving_with(&table).await;
    for (host, ip) in FORMS {
        table.set(host, ip);
        let (status, body) = create(&app, &format!("http://{host}:8080/hook")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{host}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{body}");
        let sentence = body["error"].as_str().unwrap();
        assert!(
            sentence.contains(&shown(ip)),
            "the address is named: {sentence}"
        );
        assert!(sentence.contains("not a public address"), "{sentence}");
    }
    for url in [
        "https://example.com:99999/hook",
        "http://localhost./hook",
        "http://a..example.com/hook",
    ] {
        let (status, body) = create(&app, url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{body}");
    }
}

#[tokio::test]
async fn a_name_that_turns_to_an_ipv6_form_of_loopback_is_refused_at_send_time() {
    let table = Arc::new(Table::default());
    let app = app_resolving_with(&table).await;
    let mut endpoints = Vec::new();
    for (host, _) in FORMS {
        table.set(host, "93.184.216.34");
        let (status, body) = create(&app, &format!("http://{host}:8080/hook")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        endpoints.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    // The names now answer with the private forms, as a rebinding DNS server would.
    for (host, ip) in FORMS {
        table.set(host, ip);
    }
    app.register_ok(&app.key_a, &fixtures::individual("rebound"))
        .await;
    for (id, (_, ip)) in endpoints.iter().zip(FORMS) {
        let attempt = first_attempt(&app, id).await;
        assert_eq!(attempt["status_code"], Value::Null, "{attempt}");
        let why = attempt["response"].as_str().unwrap();
        assert!(why.contains(&format!("resolves to {}", shown(ip))), "{why}");
        assert!(why.contains("not a public address"), "{why}");
    }
}

/// An address as the server writes it (canonical: `::7f00:1` for `::127.0.0.1`).
fn shown(ip: &str) -> String {
    ip.parse::<IpAddr>().unwrap().to_string()
}

/// The first recorded attempt of an endpoint, waited for (bounded).
async fn first_attempt(app: &TestApp, id: &str) -> Value {
    let path = format!("/v1/enterprise/webhooks/{id}/deliveries");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list: Value = app.get_with(&app.key_a, &path).await.json().await.unwrap();
        if let Some(last) = list["data"].as_array().and_then(|a| a.last()) {
            return last.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no attempt on {id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_unauthenticated_metrics_page_names_no_endpoint_of_any_tenant() {
    let table = Arc::new(Table::default());
    table.set("hooks-a.test", "93.184.216.34");
    let app = app_resolving_with(&table).await;
    let mut ids = Vec::new();
    for key in [&app.key_a, &app.key_b] {
        let body = json!({ "url": "https://hooks-a.test/hook" });
        let response = app.post_json(key, "/v1/enterprise/webhooks", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        ids.push(created["data"]["id"].as_str().unwrap().to_owned());
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("onboard_webhook_queue_depth "),
        "{metrics}"
    );
    assert!(
        metrics.contains("onboard_webhook_endpoints_behind "),
        "{metrics}"
    );
    for id in ids {
        assert!(!metrics.contains(&id), "{id} is on /metrics");
    }
    assert!(!metrics.contains("endpoint=\""), "{metrics}");
}
