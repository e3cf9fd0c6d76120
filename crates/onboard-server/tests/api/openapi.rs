//! `GET /openapi.json` (CONTRACT §2, extensions): the hand-maintained document
//! cannot drift silently from the code. Every route of the route table is in it
//! with its methods (and nothing else is), every documented path is really routed,
//! every `$ref` resolves, and each response schema lists its properties in the
//! order the server writes them, checked against real responses.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, assert_json_content_type, body_ok, spawn_app};
use crate::ordered::Json;

/// The file `GET /openapi.json` serves.
const DOCUMENT: &str = include_str!("../../openapi.json");

/// The route table of `src/routes/mod.rs`: methods and paths. axum 0.8 writes path
/// parameters as `{user_id}`, as OpenAPI does; [`openapi_path`] converts the older
/// `:user_id` form should it ever appear.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/enterprise/register-account"),
    ("get", "/v1/enterprise/users"),
    ("get", "/v1/enterprise/users/{user_id}"),
    ("delete", "/v1/enterprise/account/{user_id}"),
    ("post", "/v1/enterprise/users/send-verification/{user_id}"),
    ("post", "/v1/enterprise/users/verify/{user_id}"),
    ("post", "/v1/enterprise/user-tokens/{user_id}"),
    ("post", "/v1/enterprise/user-tokens"),
    ("get", "/v1/user"),
    ("get", "/v1/enterprise/events"),
    ("get", "/v1/enterprise/eddq/prompts"),
    ("get", "/v1/enterprise/eddq/requests"),
    ("post", "/v1/enterprise/eddq/responses"),
    ("post", "/v1/enterprise/ddq/upload"),
    ("post", "/v1/files/verification"),
    ("get", "/v1/enterprise/documents"),
    ("get", "/v1/enterprise/documents/{id}"),
    ("get", "/v1/enterprise/webhooks"),
    ("post", "/v1/enterprise/webhooks"),
    ("get", "/v1/enterprise/webhooks/{id}"),
    ("patch", "/v1/enterprise/webhooks/{id}"),
    ("delete", "/v1/enterprise/webhooks/{id}"),
    ("post", "/v1/enterprise/webhooks/{id}/rotate-secret"),
    ("get", "/v1/enterprise/webhooks/{id}/deliveries"),
    ("post", "/v1/enterprise/webhooks/{id}/replay"),
    ("get", "/ws"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    // Routed only in sandbox mode (which the test servers run in).
    ("get", "/v1/sandbox/messages"),
    ("post", "/v1/sandbox/eddq/requests"),
];

/// The HTTP methods OpenAPI allows as keys of a path item.
const OPERATIONS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `/users/:user_id` → `/users/{user_id}`; `{user_id}` stays as it is.
fn openapi_path(route: &str) -> String {
    route
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.keys()
                .filter(|k| OPERATIONS.contains(&k.as_str()))
                .map(|method| (method.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn table_operations() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), openapi_path(path)))
        .collect()
}

/// Every `.route("path", method(handler)…)` of `src/routes/mod.rs`, as
/// `(method, path)`: read from the source, so that a route added there and not
/// to [`ROUTES`] (and so, not to the document) fails this test.
fn source_operations() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/routes/mod.rs");
    let mut found = BTreeSet::new();
    for call in source.split(".route(").skip(1) {
        let mut quoted = call.splitn(3, '"');
        quoted.next();
        let path = quoted.next().expect("a route call names its path");
        let rest = quoted.next().expect("a route call has a handler");
        // The method routers up to the call's closing parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a route call is closed");
        let handlers = &rest[..end];
        for method in OPERATIONS {
            let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !handlers[..i]
                        .ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if called {
                found.insert(((*method).to_owned(), openapi_path(path)));
            }
        }
    }
    found
}

/// Every `$ref` (and discriminator mapping) string in `value`, with where it is.
fn refs<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let here = format!("{at}/{key}");
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => out.push((here, target)),
                    ("mapping", Value::Object(mapping)) => {
                        for (name, target) in mapping {
                            let target = target.as_str().expect("a mapping names a $ref");
                            out.push((format!("{here}/{name}"), target));
                        }
                    }
                    _ => refs(child, here, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The document with its keys in the order written.
fn ordered_document() -> Json {
    Json::parse(DOCUMENT)
}

/// The property names of `components.schemas.<name>`, in document order.
fn schema_keys<'a>(doc: &'a Json, name: &str) -> Vec<&'a str> {
    doc.get("components")
        .get("schemas")
        .get(name)
        .get("properties")
        .keys()
}

/// The `required` list of `components.schemas.<name>`.
fn schema_required(doc: &Value, name: &str) -> Vec<String> {
    doc["components"]["schemas"][name]["required"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} has no required list"))
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// Checks a real object of the server against `components.schemas.<name>`: its
/// keys are the schema's properties in the schema's order (less `absent`, the
/// properties only other variants carry), and every required property is there.
fn assert_shape(doc: &Json, value_doc: &Value, name: &str, real: &Json, absent: &[&str]) {
    let documented: Vec<&str> = schema_keys(doc, name)
        .into_iter()
        .filter(|k| !absent.contains(k))
        .collect();
    assert_eq!(
        real.keys(),
        documented,
        "the {name} schema of openapi.json lists other properties, or another order, \
         than the server writes"
    );
    let real_keys = real.keys();
    for required in schema_required(value_doc, name) {
        assert!(
            real_keys.contains(&required.as_str()),
            "{name} requires {required:?}, which the server did not send"
        );
    }
}

async fn fetch_document(app: &TestApp) -> (StatusCode, String, Option<String>) {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), content_type)
}

#[tokio::test]
async fn openapi_json_is_served_without_a_key_as_openapi_3_1() {
    let app = spawn_app().await;
    let (status, text, content_type) = fetch_document(&app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(text, DOCUMENT, "the served document is not openapi.json");
    let doc: Value = serde_json::from_str(&text).expect("openapi.json is JSON");
    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(
        version.starts_with("3.1."),
        "openapi is {version:?}, not 3.1.x"
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemes = &doc["components"]["securitySchemes"];
    for scheme in ["enterpriseKey", "userToken"] {
        assert_eq!(schemes[scheme]["type"], "http", "{scheme}");
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
}

#[tokio::test]
async fn every_route_of_the_table_is_documented_with_its_methods_and_nothing_else() {
    let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    assert_eq!(
        table_operations(),
        source_operations(),
        "ROUTES of this test differs from the route table of src/routes/mod.rs"
    );
    let documented = documented_operations(&doc);
    let table = table_operations();
    let missing: Vec<_> = table.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json documents unrouted operations: {extra:?}"
    );

    // Each operation names its security (an empty list for the public ones), and
    // only the schemes the document declares.
    for (method, path) in &documented {
        let operation = &doc["paths"][path][method];
        let security = operation["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} does not state its security"));
        for requirement in security {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(
                    doc["components"]["securitySchemes"][scheme].is_object(),
                    "{method} {path} uses the undeclared scheme {scheme}"
                );
            }
        }
        assert!(
            operation["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    let enterprise_routes = documented
        .iter()
        .filter(|(_, path)| path.starts_with("/v1/enterprise/"));
    for (method, path) in enterprise_routes {
        assert_eq!(
            doc["paths"][path][method]["security"],
            json!([{"enterpriseKey": []}]),
            "{method} {path}"
        );
        assert!(
            doc["paths"][path][method]["responses"]["401"].is_object(),
            "{method} {path} does not document its 401"
        );
    }
    assert_eq!(
        doc["paths"]["/v1/user"]["get"]["security"],
        json!([{"userToken": []}])
    );
}

#[tokio::test]
async fn every_documented_path_is_routed_by_the_server() {
    let app = spawn_app().await;
    let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    // No route answers TRACE: a routed path says 405, an unrouted one 404.
    for path in doc["paths"].as_object().unwrap().keys() {
        let concrete = path
            .replace("{user_id}", "someone")
            .replace("{id}", "ep_0123456789abcdef0123456789abcdef");
        let response = app
            .client
            .request(Method::TRACE, app.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{path} is documented but not routed"
        );
    }
}

#[tokio::test]
async fn every_ref_resolves_and_every_component_is_used() {
    let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(!found.is_empty());
    let mut used = BTreeSet::new();
    for (at, target) in &found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: {target} is not a local reference"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: {target} does not resolve"
        );
        used.insert(pointer.to_owned());
    }
    for kind in ["schemas", "responses", "parameters", "headers"] {
        let Some(components) = doc["components"][kind].as_object() else {
            continue;
        };
        for name in components.keys() {
            let pointer = format!("/components/{kind}/{name}");
            assert!(used.contains(&pointer), "{pointer} is never referenced");
        }
    }
}

#[tokio::test]
async fn the_user_schemas_list_the_keys_the_server_writes_in_its_order() {
    let app = spawn_app().await;
    let key = &app.key_a;
    let doc = ordered_document();
    let value_doc: Value = serde_json::from_str(DOCUMENT).unwrap();

    // The full shape: an individual, then a corporation.
    app.register_ok(key, &fixtures::individual("openapi_individual"))
        .await;
    let response = app.get_user(key, "openapi_individual").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_json_content_type(&response);
    let body = Json::parse(&response.text().await.unwrap());
    let user = body.get("data");
    assert_shape(
        &doc,
        &value_doc,
        "EndUser",
        user,
        &["business", "beneficial_owners"],
    );
    assert_shape(&doc, &value_doc, "Individual", user.get("individual"), &[]);
    assert_shape(
        &doc,
        &value_doc,
        "Requirements",
        user.get("requirements"),
        &[],
    );

    app.register_ok(key, &fixtures::corporation("openapi_corporation"))
        .await;
    let response = app.get_user(key, "openapi_corporation").await;
    let body = Json::parse(&response.text().await.unwrap());
    let corporation = body.get("data");
    assert_shape(&doc, &value_doc, "EndUser", corporation, &["individual"]);
    assert_shape(
        &doc,
        &value_doc,
        "Business",
        corporation.get("business"),
        &[],
    );
    for owner in corporation.get("beneficial_owners").items() {
        assert_shape(&doc, &value_doc, "BeneficialOwner", owner, &[]);
    }

    // The list shape, whole and paged.
    let response = app.list(key, "").await;
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "UserList", &body, &[]);
    for summary in body.get("data").items() {
        assert_shape(&doc, &value_doc, "EndUserSummary", summary, &[]);
    }
    let response = app.list(key, "limit=1").await;
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "UserPage", &body, &[]);
}

#[tokio::test]
async fn the_other_response_schemas_list_the_keys_the_server_writes_in_its_order() {
    let app = spawn_app().await;
    let key = &app.key_a;
    let doc = ordered_document();
    let value_doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    let user_id = "openapi_user";
    app.register_ok(key, &fixtures::individual(user_id)).await;

    // The outbox holds the email code registration sent.
    let response = app
        .get_with(key, &format!("/v1/sandbox/messages?user_id={user_id}"))
        .await;
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(
        &doc,
        &value_doc,
        "OutboxMessage",
        &body.get("data").items()[0],
        &[],
    );

    let code = app.latest_code(key, user_id, "email").await;
    let response = app.verify(key, user_id, "email", &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "Verified", body.get("data"), &[]);

    // `CodeSent` names the address after the channel: `phone_number` for sms.
    let response = app.send_code(key, user_id, "sms").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "CodeSent", body.get("data"), &["email"]);

    let response = app.mint_token(key, user_id).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "UserToken", body.get("data"), &[]);

    let response = app.get_with(key, "/v1/enterprise/events").await;
    let body = Json::parse(&response.text().await.unwrap());
    for event in body.get("data").items() {
        // `operator` and `note` come only with an operator's decision, and
        // `edd_request` and `document` only with EDD and document events.
        let mut absent = vec!["edd_request", "document"];
        if !event.keys().contains(&"operator") {
            absent.extend(["operator", "note"]);
        }
        assert_shape(&doc, &value_doc, "Event", event, &absent);
        assert_shape(&doc, &value_doc, "EndUserSummary", event.get("user"), &[]);
    }

    let minted = body_ok(app.mint_token(key, user_id).await, StatusCode::CREATED).await;
    let response = app.me(minted["data"]["token"].as_str().unwrap()).await;
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(
        &doc,
        &value_doc,
        "EndUser",
        body.get("data"),
        &["business", "beneficial_owners"],
    );

    let response = app.register(key, &json!({"user_id": "x"})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "Error", &body, &[]);
    assert_shape(
        &doc,
        &value_doc,
        "FieldProblem",
        &body.get("errors").items()[0],
        &[],
    );

    for (path, schema) in [("/healthz", "Health"), ("/readyz", "Readiness")] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let body = Json::parse(&response.text().await.unwrap());
        assert_shape(&doc, &value_doc, schema, &body, &["error"]);
    }
}

#[tokio::test]
async fn the_edd_schemas_list_the_keys_the_server_writes_in_its_order() {
    use crate::documents::{Part, png, upload_legacy};
    let app = spawn_app().await;
    let key = &app.key_a;
    let doc = ordered_document();
    let value_doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    app.register_ok(key, &fixtures::individual("edd_shape"))
        .await;

    let response = app.get_with(key, "/v1/enterprise/eddq/prompts").await;
    let body = Json::parse(&response.text().await.unwrap());
    for prompt in body.get("data").items() {
        assert_shape(&doc, &value_doc, "EddPrompt", prompt, &[]);
    }
    let response = app.open_edd(key, "edd_shape").await;
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "EddRequest", body.get("data"), &[]);
    let files = [Part::file("files", "id.png", png(100))];
    let response = upload_legacy(&app, key, "edd_shape", r#"{"id.png": "ID"}"#, &files).await;
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(&doc, &value_doc, "UploadAccepted", &body, &[]);
    let response = app.get_with(key, "/v1/enterprise/documents").await;
    let body = Json::parse(&response.text().await.unwrap());
    assert_shape(
        &doc,
        &value_doc,
        "Document",
        &body.get("data").items()[0],
        &[],
    );

    let enterprise = app.enterprise("enterprise-a").await;
    let actor = app.operator("olivia").await;
    let id = app.edd_requests(key, "").await[0]["id"].as_i64().unwrap();
    app.onboarding
        .review_edd(&enterprise, id, &actor, "checked")
        .await
        .unwrap();
    let response = app.get_with(key, "/v1/enterprise/events").await;
    let body = Json::parse(&response.text().await.unwrap());
    let events = body.get("data").items();
    let requested = &events[1];
    let not_requested = ["operator", "note", "document"];
    assert_shape(&doc, &value_doc, "Event", requested, &not_requested);
    let uploaded = &events[2];
    let not_uploaded = ["operator", "note", "edd_request"];
    assert_shape(&doc, &value_doc, "Event", uploaded, &not_uploaded);
    let reviewed = &events[3];
    assert_shape(&doc, &value_doc, "Event", reviewed, &["document"]);
}
