//! The console's templates (askama, compiled into the binary, HTML-escaped) and
//! the shapes they read: plain strings, formatted once here.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use onboard_core::access::Role;
use onboard_core::events::Event;
use onboard_core::service::ConsoleSession;
use onboard_core::store::ConsoleListed;
use onboard_core::time_format::rfc3339_millis;

/// What every page's layout needs: who is signed in, the form token, the nav.
pub struct Frame {
    pub operator: String,
    pub is_admin: bool,
    pub sandbox: bool,
    pub csrf: String,
    /// Which nav entry is the current page.
    pub current: &'static str,
}

impl Frame {
    pub fn new(session: &ConsoleSession, sandbox: bool, current: &'static str) -> Frame {
        Frame {
            operator: session.actor.name.to_string(),
            is_admin: session.actor.role == Role::Admin,
            sandbox,
            csrf: session.csrf.clone(),
            current,
        }
    }

    /// `aria-current` for the nav entry named `entry`.
    pub fn aria(&self, entry: &str) -> &'static str {
        if self.current == entry {
            "page"
        } else {
            "false"
        }
    }
}

/// Renders a template as a page; a template that fails is a 500 page.
pub fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>The page could not be shown.</p>"),
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub sentence: &'a str,
}

pub fn error_page(status: StatusCode, sentence: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    page(status, &ErrorPage { title, sentence })
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    pub csrf: String,
    pub name: String,
    pub problem: Option<String>,
}

/// A user in a list (Users, Review queue).
pub struct UserLine {
    pub enterprise: String,
    pub href: String,
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub account_type: &'static str,
    pub account_role: &'static str,
    pub status: &'static str,
    pub requirements: String,
    pub registered: String,
}

impl UserLine {
    pub fn of(listed: &ConsoleListed, enterprise_id: i64) -> UserLine {
        let u = &listed.user;
        UserLine {
            enterprise: listed.enterprise.clone(),
            href: user_href(enterprise_id, u.user_id.as_str()),
            user_id: u.user_id.to_string(),
            name: format!("{} {}", u.first_name, u.last_name),
            email: u.email.to_string(),
            account_type: u.account_type.as_str(),
            account_role: u.account_role.as_str(),
            status: u.status.as_str(),
            requirements: requirements(u),
            registered: rfc3339_millis(listed.created_at),
        }
    }
}

/// The steps a user still has to take, in words.
pub fn requirements(u: &onboard_core::user::UserSummary) -> String {
    match (u.requirements.email, u.requirements.sms) {
        (false, false) => "none".into(),
        (true, false) => "email".into(),
        (false, true) => "sms".into(),
        (true, true) => "email, sms".into(),
    }
}

/// The User page's path. User ids are letters, digits, `-` and `_`, so they
/// need no escaping in a path.
pub fn user_href(enterprise_id: i64, user_id: &str) -> String {
    format!("/console/enterprises/{enterprise_id}/users/{user_id}")
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn list(values: &[(&str, &str)], current: &str) -> Vec<Choice> {
        values
            .iter()
            .map(|(value, label)| Choice {
                value: (*value).to_owned(),
                label: (*label).to_owned(),
                selected: *value == current,
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "console/users.html")]
pub struct UsersPage {
    pub frame: Frame,
    pub enterprises: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub roles: Vec<Choice>,
    pub types: Vec<Choice>,
    pub q: String,
    pub users: Vec<UserLine>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "console/review.html")]
pub struct ReviewPage {
    pub frame: Frame,
    pub users: Vec<UserLine>,
}

/// One line of the profile: a dotted path and its value.
pub struct Field {
    pub name: String,
    pub value: String,
}

/// Flattens a JSON object into dotted paths, in document order.
pub fn fields(prefix: &str, value: &serde_json::Value, out: &mut Vec<Field>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                fields(&name, v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                fields(&format!("{prefix}[{i}]"), v, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => out.push(Field {
            name: prefix.to_owned(),
            value: s.clone(),
        }),
        other => out.push(Field {
            name: prefix.to_owned(),
            value: other.to_string(),
        }),
    }
}

pub struct EddLine {
    pub id: i64,
    pub enterprise: String,
    pub user_href: String,
    pub user_id: String,
    pub form: String,
    pub status: &'static str,
    pub added: String,
    pub updated: String,
    pub answers: Vec<Field>,
    pub reviewed: Option<String>,
    pub review_action: String,
    pub open: bool,
}

pub struct DocumentLine {
    pub filename: String,
    pub document_type: String,
    pub content_type: String,
    pub size: i64,
    pub href: String,
    pub is_image: bool,
}

pub struct EventLine {
    pub event_id: i64,
    pub enterprise: String,
    pub user_id: String,
    pub at: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub cause: String,
    pub operator: String,
    pub note: String,
}

impl EventLine {
    pub fn of(enterprise: &str, event: &Event) -> EventLine {
        let (operator, note) = match &event.by {
            Some(by) => (by.operator.clone(), by.note.clone()),
            None => (String::new(), String::new()),
        };
        EventLine {
            event_id: event.event_id,
            enterprise: enterprise.to_owned(),
            user_id: event.user.user_id.to_string(),
            at: rfc3339_millis(event.at),
            kind: event.kind.as_str(),
            status: event.user.status.as_str(),
            cause: event.cause.clone(),
            operator,
            note,
        }
    }
}

#[derive(Template)]
#[template(path = "console/user.html")]
pub struct UserPage {
    pub frame: Frame,
    pub enterprise: String,
    pub user_id: String,
    pub name: String,
    pub status: &'static str,
    pub requirements: String,
    pub reviewable: bool,
    pub review_action: String,
    pub profile: Vec<Field>,
    pub edd: Vec<EddLine>,
    pub documents: Vec<DocumentLine>,
    pub events: Vec<EventLine>,
}

#[derive(Template)]
#[template(path = "console/edd.html")]
pub struct EddPage {
    pub frame: Frame,
    pub requests: Vec<EddLine>,
}

#[derive(Template)]
#[template(path = "console/live.html")]
pub struct LivePage {
    pub frame: Frame,
    pub cursor: String,
}

#[derive(Template)]
#[template(path = "console/live_rows.html")]
pub struct LiveRows {
    pub events: Vec<EventLine>,
    pub cursor: String,
}

pub struct KeyLine {
    pub enterprise: String,
    pub enterprise_id: i64,
    pub id: String,
    pub label: String,
    pub created: String,
    pub created_by: String,
    pub last_used: String,
    pub expires: String,
    pub revoked: String,
    pub live: bool,
}

/// A key shown once, right after it was made.
pub struct ShownKey {
    pub what: String,
    pub key: String,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
pub struct KeysPage {
    pub frame: Frame,
    pub enterprises: Vec<Choice>,
    pub keys: Vec<KeyLine>,
    pub shown: Option<ShownKey>,
}

pub struct OperatorLine {
    pub name: String,
    pub role: &'static str,
    pub created: String,
    pub password_set: String,
    pub disabled: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "console/operators.html")]
pub struct OperatorsPage {
    pub frame: Frame,
    pub operators: Vec<OperatorLine>,
    pub shown: Option<ShownKey>,
}

pub struct EndpointLine {
    pub enterprise: String,
    pub href: String,
    pub id: String,
    pub url: String,
    pub description: String,
    pub enabled: String,
    pub cursor: i64,
    pub failing_since: String,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
pub struct WebhooksPage {
    pub frame: Frame,
    pub endpoints: Vec<EndpointLine>,
}

pub struct AttemptLine {
    pub event_id: i64,
    pub attempt: u32,
    pub at: String,
    pub status: &'static str,
    pub code: String,
    pub duration_ms: i64,
    pub response: String,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
pub struct DeliveriesPage {
    pub frame: Frame,
    pub enterprise: String,
    pub id: String,
    pub url: String,
    pub replay_action: String,
    pub attempts: Vec<AttemptLine>,
}

pub struct OutboxLine {
    pub enterprise: String,
    pub user_id: String,
    pub channel: &'static str,
    pub to: String,
    pub code: String,
    pub sent: String,
}

#[derive(Template)]
#[template(path = "console/outbox.html")]
pub struct OutboxPage {
    pub frame: Frame,
    pub messages: Vec<OutboxLine>,
}
