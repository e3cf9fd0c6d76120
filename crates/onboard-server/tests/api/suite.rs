//! The modules of the HTTP API suite: one list, compiled by `tests/api` on SQLite
//! and by `tests/api_postgres` on PostgreSQL, each binary naming its backend in
//! its own `BACKEND`. Every module runs on both.

// What the tests share.
#[path = "console_support.rs"]
pub(crate) mod console_support;
#[path = "fixtures.rs"]
pub(crate) mod fixtures;
#[path = "helpers.rs"]
pub(crate) mod helpers;
#[path = "ordered.rs"]
pub(crate) mod ordered;
#[path = "ws.rs"]
pub(crate) mod ws;

// One concern each.
#[path = "auth.rs"]
pub(crate) mod auth;
#[path = "console.rs"]
pub(crate) mod console;
#[path = "console_admin.rs"]
pub(crate) mod console_admin;
#[path = "console_browser.rs"]
pub(crate) mod console_browser;
#[path = "console_screenshots.rs"]
pub(crate) mod console_screenshots;
#[path = "delivery.rs"]
pub(crate) mod delivery;
#[path = "documents.rs"]
pub(crate) mod documents;
#[path = "edd.rs"]
pub(crate) mod edd;
#[path = "edge.rs"]
pub(crate) mod edge;
#[path = "errors.rs"]
pub(crate) mod errors;
#[path = "feed.rs"]
pub(crate) mod feed;
#[path = "feed_delivery.rs"]
pub(crate) mod feed_delivery;
#[path = "feed_history.rs"]
pub(crate) mod feed_history;
#[path = "feed_replay.rs"]
pub(crate) mod feed_replay;
#[path = "golden.rs"]
pub(crate) mod golden;
#[path = "health.rs"]
pub(crate) mod health;
#[path = "idempotency.rs"]
pub(crate) mod idempotency;
#[path = "keys.rs"]
pub(crate) mod keys;
#[path = "listing.rs"]
pub(crate) mod listing;
#[path = "openapi.rs"]
pub(crate) mod openapi;
#[path = "paging.rs"]
pub(crate) mod paging;
#[path = "sealing.rs"]
pub(crate) mod sealing;
#[path = "tenancy.rs"]
pub(crate) mod tenancy;
#[path = "tokens.rs"]
pub(crate) mod tokens;
#[path = "users.rs"]
pub(crate) mod users;
#[path = "validation.rs"]
pub(crate) mod validation;
#[path = "verification.rs"]
pub(crate) mod verification;
#[path = "webhooks.rs"]
pub(crate) mod webhooks;
