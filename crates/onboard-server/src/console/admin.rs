//! Admin pages (CONTRACT §10): Keys (create, shown once; rotate; revoke),
//! Operators (create, shown once; reset a password; disable), Webhooks
//! (endpoints, their deliveries, replay), and the Outbox in sandbox mode (for
//! every signed-in operator: it is the sandbox's, not an admin's, tool).
//! Every route takes [`Admin`] or [`AdminPosted`]: a reviewer gets 403 here, on
//! the server, for reading and posting alike.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use onboard_core::access::{ApiKeyId, ApiKeyRecord, parse_duration};
use onboard_core::time_format::rfc3339_millis;
use serde::Deserialize;

use super::pages::enterprise;
use super::session::{Admin, AdminPosted};
use super::view::{self, Frame};
use crate::error::ConsoleError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/keys", get(keys))
        .route("/console/keys/create", post(create_key))
        .route("/console/keys/rotate", post(rotate_key))
        .route("/console/keys/revoke", post(revoke_key))
        .route("/console/operators", get(super::people::operators))
        .route("/console/operators/create", post(super::people::create))
        .route("/console/operators/reset", post(super::people::reset))
        .route("/console/operators/disable", post(super::people::disable))
        .route("/console/webhooks", get(super::hooks::webhooks))
        .route(
            "/console/enterprises/{enterprise}/webhooks/{id}",
            get(super::hooks::deliveries),
        )
        .route(
            "/console/enterprises/{enterprise}/webhooks/{id}/replay",
            post(super::hooks::replay),
        )
        .route("/console/outbox", get(super::hooks::outbox))
}

fn when(t: Option<time::OffsetDateTime>) -> String {
    t.map(rfc3339_millis).unwrap_or_default()
}

fn key_line(
    enterprise: &str,
    enterprise_id: i64,
    k: &ApiKeyRecord,
    now: time::OffsetDateTime,
) -> view::KeyLine {
    view::KeyLine {
        enterprise: enterprise.to_owned(),
        enterprise_id,
        id: k.id.to_string(),
        label: k.label.clone(),
        created: rfc3339_millis(k.created_at),
        created_by: k.created_by.clone().unwrap_or_default(),
        last_used: when(k.last_used_at),
        expires: when(k.expires_at),
        revoked: when(k.revoked_at),
        live: k.ended(now).is_none(),
    }
}

async fn keys_page(
    state: &AppState,
    session: &onboard_core::service::ConsoleSession,
    shown: Option<view::ShownKey>,
) -> Result<Response, ConsoleError> {
    let o = &state.onboarding;
    let now = o.now();
    let mut lines = Vec::new();
    let enterprises = o.enterprises().await?;
    for e in &enterprises {
        for k in o.keys_of(e).await? {
            lines.push(key_line(&e.name, e.id.0, &k, now));
        }
    }
    let page = view::KeysPage {
        frame: Frame::new(session, state.sandbox, "keys"),
        enterprises: enterprises
            .iter()
            .map(|e| view::Choice {
                value: e.id.0.to_string(),
                label: e.name.clone(),
                selected: false,
            })
            .collect(),
        keys: lines,
        shown,
    };
    Ok(view::page(StatusCode::OK, &page))
}

pub async fn keys(
    State(state): State<AppState>,
    Admin(session): Admin,
) -> Result<Response, ConsoleError> {
    keys_page(&state, &session, None).await
}

#[derive(Deserialize)]
pub struct CreateKeyForm {
    #[serde(default)]
    enterprise: i64,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires_in: String,
}

/// Creates a key and shows it once, on the page that answers the form.
pub async fn create_key(
    State(state): State<AppState>,
    AdminPosted(session, form): AdminPosted<CreateKeyForm>,
) -> Result<Response, ConsoleError> {
    let e = enterprise(&state, form.enterprise).await?;
    let expires_in = match form.expires_in.trim() {
        "" => None,
        text => Some(parse_duration(text).map_err(|e| ConsoleError::BadForm(e.0))?),
    };
    let created = state
        .onboarding
        .create_key(&e, &form.label, expires_in, Some(&session.actor))
        .await?;
    let shown = view::ShownKey {
        what: format!("New key {} of {}", created.record.id, e.name),
        key: created.key.expose().to_owned(),
    };
    keys_page(&state, &session, Some(shown)).await
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    enterprise: i64,
    #[serde(default)]
    key: String,
    #[serde(default)]
    grace: String,
}

fn key_id(text: &str) -> Result<ApiKeyId, ConsoleError> {
    ApiKeyId::parse(text).map_err(|e| ConsoleError::BadForm(e.0))
}

/// Rotates a key: a new one, shown once; the old one expires after the grace.
pub async fn rotate_key(
    State(state): State<AppState>,
    AdminPosted(session, form): AdminPosted<KeyForm>,
) -> Result<Response, ConsoleError> {
    let e = enterprise(&state, form.enterprise).await?;
    let grace = match form.grace.trim() {
        "" => time::Duration::hours(24),
        text => parse_duration(text).map_err(|e| ConsoleError::BadForm(e.0))?,
    };
    let rotated = state
        .onboarding
        .rotate_key(&e, &key_id(&form.key)?, grace, Some(&session.actor))
        .await?;
    let shown = view::ShownKey {
        what: format!(
            "Key {} replaces {} of {}",
            rotated.new.id, rotated.old.id, e.name
        ),
        key: rotated.key.expose().to_owned(),
    };
    keys_page(&state, &session, Some(shown)).await
}

pub async fn revoke_key(
    State(state): State<AppState>,
    AdminPosted(session, form): AdminPosted<KeyForm>,
) -> Result<Response, ConsoleError> {
    let e = enterprise(&state, form.enterprise).await?;
    state
        .onboarding
        .revoke_key(&e, &key_id(&form.key)?, Some(&session.actor))
        .await?;
    keys_page(&state, &session, None).await
}
