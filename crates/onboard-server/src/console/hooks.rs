//! The Webhooks pages (admins only): every enterprise's endpoints, one
//! endpoint's deliveries, replay; and the Outbox page in sandbox mode.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onboard_core::time_format::rfc3339_millis;
use serde::Deserialize;

use super::ConsolePath;
use super::pages::enterprise;
use super::session::{Admin, AdminPosted, Signed};
use super::view::{self, Frame};
use crate::error::ConsoleError;
use crate::state::AppState;

/// Deliveries shown for one endpoint, newest first.
const DELIVERIES: u32 = 100;
/// Outbox messages shown, newest first.
const OUTBOX: u32 = 200;

pub async fn webhooks(
    State(state): State<AppState>,
    Admin(session): Admin,
) -> Result<Response, ConsoleError> {
    let o = &state.onboarding;
    let mut endpoints = Vec::new();
    for e in o.enterprises().await? {
        for endpoint in o.endpoints(&e).await? {
            endpoints.push(view::EndpointLine {
                enterprise: e.name.clone(),
                href: format!("/console/enterprises/{}/webhooks/{}", e.id.0, endpoint.id),
                id: endpoint.id.clone(),
                url: endpoint.url.clone(),
                description: endpoint.description.clone(),
                enabled: if endpoint.enabled {
                    "yes".into()
                } else {
                    format!(
                        "no: {}",
                        endpoint.disabled_reason.clone().unwrap_or_default()
                    )
                },
                cursor: endpoint.cursor,
                failing_since: endpoint
                    .failing_since
                    .map(rfc3339_millis)
                    .unwrap_or_default(),
            });
        }
    }
    let page = view::WebhooksPage {
        frame: Frame::new(&session, state.sandbox, "webhooks"),
        endpoints,
    };
    Ok(view::page(StatusCode::OK, &page))
}

pub async fn deliveries(
    State(state): State<AppState>,
    Admin(session): Admin,
    ConsolePath((enterprise_id, id)): ConsolePath<(i64, String)>,
) -> Result<Response, ConsoleError> {
    let e = enterprise(&state, enterprise_id).await?;
    let o = &state.onboarding;
    let endpoint = o.endpoint(&e, &id).await?;
    let (attempts, _) = o.endpoint_attempts(&e, &id, None, None, DELIVERIES).await?;
    let page = view::DeliveriesPage {
        frame: Frame::new(&session, state.sandbox, "webhooks"),
        enterprise: e.name.clone(),
        id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        replay_action: format!("/console/enterprises/{enterprise_id}/webhooks/{id}/replay"),
        attempts: attempts
            .iter()
            .map(|a| view::AttemptLine {
                event_id: a.event_id,
                attempt: a.attempt,
                at: rfc3339_millis(a.attempted_at),
                status: a.status.as_str(),
                code: a.status_code.map(|c| c.to_string()).unwrap_or_default(),
                duration_ms: a.duration_ms,
                response: a.response.clone(),
            })
            .collect(),
    };
    Ok(view::page(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    after: String,
    #[serde(default)]
    event_id: String,
}

fn number(field: &str, text: &str) -> Result<Option<i64>, ConsoleError> {
    match text.trim() {
        "" => Ok(None),
        t => t
            .parse()
            .map(Some)
            .map_err(|_| ConsoleError::BadForm(format!("{field} must be a whole number"))),
    }
}

/// Replay: every wanted event after `after`, or the one `event_id`.
pub async fn replay(
    State(state): State<AppState>,
    ConsolePath((enterprise_id, id)): ConsolePath<(i64, String)>,
    AdminPosted(_, form): AdminPosted<ReplayForm>,
) -> Result<Response, ConsoleError> {
    let e = enterprise(&state, enterprise_id).await?;
    let after = number("after", &form.after)?;
    let event_id = number("event_id", &form.event_id)?;
    state
        .onboarding
        .replay_endpoint(&e, &id, after, event_id)
        .await?;
    let back = format!("/console/enterprises/{enterprise_id}/webhooks/{id}");
    Ok(Redirect::to(&back).into_response())
}

/// The Outbox: only in sandbox mode, where codes are readable over HTTP anyway.
pub async fn outbox(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Result<Response, ConsoleError> {
    if !state.sandbox {
        return Err(ConsoleError::NotFound(
            "There is no such console page.".into(),
        ));
    }
    let o = &state.onboarding;
    let names: Vec<_> = o.enterprises().await?;
    let messages = o
        .console_outbox(OUTBOX)
        .await?
        .into_iter()
        .map(|m| view::OutboxLine {
            enterprise: names
                .iter()
                .find(|e| e.id == m.enterprise)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            user_id: m.user_id.clone(),
            channel: m.channel.as_str(),
            to: m.to.clone(),
            code: m.code.clone(),
            sent: rfc3339_millis(m.sent_at),
        })
        .collect();
    let page = view::OutboxPage {
        frame: Frame::new(&session, state.sandbox, "outbox"),
        messages,
    };
    Ok(view::page(StatusCode::OK, &page))
}
