//! Users, User, the Review queue and documents (CONTRACT §10).

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use onboard_core::service::NoSuchUser;
use onboard_core::store::{ConsoleFilter, Enterprise, EnterpriseId};
use onboard_core::user::{AccountRole, AccountType, Status};
use serde::{Deserialize, Serialize};

use super::session::{Posted, Signed};
use super::view::{self, Choice, DocumentLine, EddLine, EventLine, Frame, UserLine};
use super::{ConsolePath, ConsoleQuery};
use crate::error::ConsoleError;
use crate::state::AppState;

/// Users per page of the Users page.
pub const PAGE: u32 = 50;
/// The longest review queue shown at once.
pub const QUEUE: u32 = 200;

#[derive(Deserialize, Serialize, Default)]
pub struct UsersQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    enterprise: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    role: String,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    account_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    q: String,
    #[serde(default, skip_serializing)]
    after: Option<i64>,
}

fn bad(what: &str, value: &str) -> ConsoleError {
    ConsoleError::BadForm(format!("{value:?} is not a {what} the console knows."))
}

impl UsersQuery {
    fn filter(&self) -> Result<ConsoleFilter, ConsoleError> {
        let some = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(ConsoleFilter {
            enterprise: some(&self.enterprise)
                .map(|e| {
                    e.parse()
                        .map(EnterpriseId)
                        .map_err(|_| bad("enterprise", &e))
                })
                .transpose()?,
            status: some(&self.status)
                .map(|s| Status::parse(&s).map_err(|_| bad("status", &s)))
                .transpose()?,
            role: some(&self.role)
                .map(|r| AccountRole::parse(&r).map_err(|_| bad("role", &r)))
                .transpose()?,
            account_type: some(&self.account_type)
                .map(|t| AccountType::parse(&t).map_err(|_| bad("type", &t)))
                .transpose()?,
            search: some(&self.q).map(|q| q.chars().take(200).collect()),
        })
    }
}

/// The id of each enterprise's name, for links.
fn id_of(enterprises: &[Enterprise], name: &str) -> i64 {
    enterprises
        .iter()
        .find(|e| e.name == name)
        .map_or(0, |e| e.id.0)
}

fn lines(
    enterprises: &[Enterprise],
    listed: &[onboard_core::store::ConsoleListed],
) -> Vec<UserLine> {
    listed
        .iter()
        .map(|l| UserLine::of(l, id_of(enterprises, &l.enterprise)))
        .collect()
}

/// Users: every enterprise's, filtered, searched, a page at a time.
pub async fn users(
    State(state): State<AppState>,
    Signed(session): Signed,
    ConsoleQuery(query): ConsoleQuery<UsersQuery>,
) -> Result<Response, ConsoleError> {
    let filter = query.filter()?;
    let o = &state.onboarding;
    let enterprises = o.enterprises().await?;
    let (listed, next) = o.console_users(&filter, query.after, PAGE).await?;
    let next = next.map(|after| {
        let rest = serde_urlencoded::to_string(&query).unwrap_or_default();
        match rest.as_str() {
            "" => format!("/console/users?after={after}"),
            _ => format!("/console/users?{rest}&after={after}"),
        }
    });
    let choices: Vec<(String, String)> = enterprises
        .iter()
        .map(|e| (e.id.0.to_string(), e.name.clone()))
        .collect();
    let choices: Vec<(&str, &str)> = choices
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let page = view::UsersPage {
        frame: Frame::new(&session, state.sandbox, "users"),
        enterprises: Choice::list(&choices, query.enterprise.trim()),
        statuses: Choice::list(
            &[
                ("PENDING", "PENDING"),
                ("VERIFIED", "VERIFIED"),
                ("UNSUPPORTED", "UNSUPPORTED"),
            ],
            query.status.trim(),
        ),
        roles: Choice::list(
            &[("client", "client"), ("advisor", "advisor")],
            query.role.trim(),
        ),
        types: Choice::list(
            &[("individual", "individual"), ("corporation", "corporation")],
            query.account_type.trim(),
        ),
        q: query.q.clone(),
        users: lines(&enterprises, &listed),
        next,
    };
    Ok(view::page(StatusCode::OK, &page))
}

/// The Review queue: PENDING users with nothing else required, oldest first.
pub async fn queue(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Result<Response, ConsoleError> {
    let o = &state.onboarding;
    let enterprises = o.enterprises().await?;
    let listed = o.review_queue(QUEUE).await?;
    let page = view::ReviewPage {
        frame: Frame::new(&session, state.sandbox, "review"),
        users: lines(&enterprises, &listed),
    };
    Ok(view::page(StatusCode::OK, &page))
}

/// The enterprise of a console path, by id.
pub async fn enterprise(state: &AppState, id: i64) -> Result<Enterprise, ConsoleError> {
    state
        .onboarding
        .enterprises()
        .await?
        .into_iter()
        .find(|e| e.id.0 == id)
        .ok_or_else(|| ConsoleError::NotFound(format!("No enterprise has the id {id}.")))
}

pub fn edd_line(enterprise_id: i64, e: &onboard_core::store::ConsoleEdd) -> EddLine {
    let r = &e.request;
    let mut answers = Vec::new();
    if let Some(json) = &e.answers
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(json)
    {
        view::fields("", &value, &mut answers);
    }
    let open = r.status.as_str() != "REVIEWED";
    EddLine {
        id: r.id,
        enterprise: e.enterprise.clone(),
        user_href: view::user_href(enterprise_id, r.user_id.as_str()),
        user_id: r.user_id.to_string(),
        form: r.form.required_form().to_owned(),
        status: r.status.as_str(),
        added: onboard_core::time_format::rfc3339_millis(r.date_added),
        updated: onboard_core::time_format::rfc3339_millis(r.date_updated),
        answers,
        reviewed: e.reviewed_by.as_ref().map(|by| match &e.review_note {
            Some(note) if !note.is_empty() => format!("by {by}: {note}"),
            _ => format!("by {by}"),
        }),
        review_action: format!("/console/enterprises/{enterprise_id}/edd/{}/review", r.id),
        open,
    }
}

/// The User page: profile (identity numbers masked), requirements, status,
/// EDD requests and answers, documents shown inline, and the timeline.
pub async fn user(
    State(state): State<AppState>,
    Signed(session): Signed,
    ConsolePath((enterprise_id, user_id)): ConsolePath<(i64, String)>,
) -> Result<Response, ConsoleError> {
    let enterprise = enterprise(&state, enterprise_id).await?;
    let user_id = NoSuchUser::User.parse(&user_id)?;
    let found = state
        .onboarding
        .console_user(&enterprise.name, user_id.as_str())
        .await?;
    let wire = found.user.to_wire();
    let mut profile = Vec::new();
    view::fields(
        "",
        &serde_json::to_value(&wire).unwrap_or_default(),
        &mut profile,
    );
    let s = &found.user.summary;
    let href = view::user_href(enterprise_id, s.user_id.as_str());
    let page = view::UserPage {
        frame: Frame::new(&session, state.sandbox, "users"),
        enterprise: enterprise.name.clone(),
        user_id: s.user_id.to_string(),
        name: format!("{} {}", s.first_name, s.last_name),
        status: s.status.as_str(),
        requirements: view::requirements(s),
        reviewable: s.status == Status::Pending && !s.requirements.email && !s.requirements.sms,
        review_action: format!("{href}/review"),
        profile,
        edd: found
            .edd
            .iter()
            .map(|e| edd_line(enterprise_id, e))
            .collect(),
        documents: found
            .documents
            .iter()
            .map(|d| DocumentLine {
                filename: d.filename.clone(),
                document_type: d.document_type.clone(),
                content_type: d.content_type.clone(),
                size: d.size,
                href: format!("/console/enterprises/{enterprise_id}/documents/{}", d.id),
                is_image: d.content_type.starts_with("image/"),
            })
            .collect(),
        events: found
            .events
            .iter()
            .map(|e| EventLine::of(&enterprise.name, e))
            .collect(),
    };
    Ok(view::page(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

/// Approve or Reject, with a note: the core review use case, acting as the
/// signed-in operator, so the event names the operator and the note.
pub async fn review(
    State(state): State<AppState>,
    ConsolePath((enterprise_id, user_id)): ConsolePath<(i64, String)>,
    Posted(session, form): Posted<ReviewForm>,
) -> Result<Response, ConsoleError> {
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(ConsoleError::BadForm("Choose Approve or Reject.".into()));
        }
    };
    if form.note.trim().is_empty() {
        return Err(ConsoleError::BadForm(
            "A note is required to approve or reject a user.".into(),
        ));
    }
    let enterprise = enterprise(&state, enterprise_id).await?;
    let user_id = NoSuchUser::User.parse(&user_id)?;
    state
        .onboarding
        .review(&enterprise, &user_id, approve, &session.actor, &form.note)
        .await?;
    Ok(Redirect::to(&view::user_href(enterprise_id, user_id.as_str())).into_response())
}

/// A document's bytes, streamed a piece at a time, shown inline on the User
/// page. Its type was sniffed at upload; it is never rendered as anything else.
pub async fn document(
    State(state): State<AppState>,
    Signed(_): Signed,
    ConsolePath((enterprise_id, id)): ConsolePath<(i64, i64)>,
) -> Result<Response, ConsoleError> {
    let enterprise = enterprise(&state, enterprise_id).await?;
    let o = &state.onboarding;
    let document = o.document(enterprise.id, id).await?;
    let pieces = crate::routes::documents::pieces(o.clone(), enterprise.id, id);
    let mut response = (
        [
            (header::CONTENT_TYPE, document.content_type.clone()),
            (header::CONTENT_DISPOSITION, "inline".to_owned()),
        ],
        Body::from_stream(pieces),
    )
        .into_response();
    // Framed by the User page only; nothing in it may run.
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; frame-ancestors 'self'; sandbox",
        ),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(response)
}
