//! The Operators page (admins only): create (the password shown once), reset a
//! password (shown once), disable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use onboard_core::access::Role;
use onboard_core::service::ConsoleSession;
use onboard_core::time_format::rfc3339_millis;
use serde::Deserialize;

use super::session::{Admin, AdminPosted};
use super::view::{self, Frame, ShownKey};
use crate::error::ConsoleError;
use crate::state::AppState;

async fn page(
    state: &AppState,
    session: &ConsoleSession,
    shown: Option<ShownKey>,
) -> Result<Response, ConsoleError> {
    let operators = state
        .onboarding
        .operators()
        .await?
        .into_iter()
        .map(|o| view::OperatorLine {
            name: o.name.to_string(),
            role: o.role.as_str(),
            created: rfc3339_millis(o.created_at),
            password_set: rfc3339_millis(o.password_set_at),
            disabled: o.disabled_at.map(rfc3339_millis).unwrap_or_default(),
            active: o.disabled_at.is_none(),
        })
        .collect();
    let page = view::OperatorsPage {
        frame: Frame::new(session, state.sandbox, "operators"),
        operators,
        shown,
    };
    Ok(view::page(StatusCode::OK, &page))
}

pub async fn operators(
    State(state): State<AppState>,
    Admin(session): Admin,
) -> Result<Response, ConsoleError> {
    page(&state, &session, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

pub async fn create(
    State(state): State<AppState>,
    AdminPosted(session, form): AdminPosted<CreateForm>,
) -> Result<Response, ConsoleError> {
    let role = Role::parse(&form.role).map_err(|e| ConsoleError::BadForm(e.0))?;
    let o = &state.onboarding;
    let password = o.generate_password();
    let created = o.create_operator(form.name.trim(), role, &password).await?;
    let shown = ShownKey {
        what: format!("Password of {} ({})", created.name, role.as_str()),
        key: password.expose().to_owned(),
    };
    page(&state, &session, Some(shown)).await
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

pub async fn reset(
    State(state): State<AppState>,
    AdminPosted(session, form): AdminPosted<NameForm>,
) -> Result<Response, ConsoleError> {
    let o = &state.onboarding;
    let password = o.generate_password();
    o.reset_operator_password(&form.name, &password).await?;
    let shown = ShownKey {
        what: format!("New password of {}", form.name),
        key: password.expose().to_owned(),
    };
    page(&state, &session, Some(shown)).await
}

pub async fn disable(
    State(state): State<AppState>,
    AdminPosted(session, form): AdminPosted<NameForm>,
) -> Result<Response, ConsoleError> {
    if form.name == session.actor.name.as_str() {
        return Err(ConsoleError::BadForm(
            "You cannot disable yourself; another admin can.".into(),
        ));
    }
    state.onboarding.disable_operator(&form.name).await?;
    page(&state, &session, None).await
}
