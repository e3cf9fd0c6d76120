//! EDD (open requests; Mark reviewed) and Live (events as they commit).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onboard_core::service::LiveCursor;
use serde::Deserialize;

use super::pages::{edd_line, enterprise};
use super::session::{Posted, Signed};
use super::view::{self, EventLine, Frame};
use super::{ConsolePath, ConsoleQuery};
use crate::error::ConsoleError;
use crate::state::AppState;

/// The most open requests the EDD page shows.
const OPEN_EDD: u32 = 200;
/// How long one Live request waits for an event before answering empty.
const LIVE_WAIT: Duration = Duration::from_secs(20);
/// Events of one enterprise per Live answer; the rest come with the next.
const LIVE_BATCH: u32 = 100;
/// Enterprises a Live cursor may name: it comes from the browser.
const MAX_CURSOR_ENTRIES: usize = 10_000;

pub async fn edd(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Result<Response, ConsoleError> {
    let o = &state.onboarding;
    let enterprises = o.enterprises().await?;
    let requests = o
        .open_edd(OPEN_EDD)
        .await?
        .iter()
        .map(|e| {
            let id = enterprises
                .iter()
                .find(|x| x.name == e.enterprise)
                .map_or(0, |x| x.id.0);
            edd_line(id, e)
        })
        .collect();
    let page = view::EddPage {
        frame: Frame::new(&session, state.sandbox, "edd"),
        requests,
    };
    Ok(view::page(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

/// Mark reviewed: the core EDD review, as the signed-in operator.
pub async fn review_edd(
    State(state): State<AppState>,
    ConsolePath((enterprise_id, id)): ConsolePath<(i64, i64)>,
    Posted(session, form): Posted<NoteForm>,
) -> Result<Response, ConsoleError> {
    if form.note.trim().is_empty() {
        return Err(ConsoleError::BadForm(
            "A note is required to mark a request reviewed.".into(),
        ));
    }
    let enterprise = enterprise(&state, enterprise_id).await?;
    state
        .onboarding
        .review_edd(&enterprise, id, &session.actor, &form.note)
        .await?;
    Ok(Redirect::to("/console/edd").into_response())
}

/// `1:5.2:7`: enterprise 1 read up to event 5, enterprise 2 up to 7.
fn encode(cursor: &LiveCursor) -> String {
    cursor
        .iter()
        .map(|(e, id)| format!("{e}:{id}"))
        .collect::<Vec<_>>()
        .join(".")
}

fn decode(text: &str) -> Result<LiveCursor, ConsoleError> {
    let bad =
        || ConsoleError::BadForm("The Live page's cursor is not readable; reload the page.".into());
    let mut cursor = LiveCursor::new();
    for pair in text.split('.').filter(|p| !p.is_empty()) {
        let (e, id) = pair.split_once(':').ok_or_else(bad)?;
        cursor.insert(
            e.parse().map_err(|_| bad())?,
            id.parse().map_err(|_| bad())?,
        );
        if cursor.len() > MAX_CURSOR_ENTRIES {
            return Err(bad());
        }
    }
    Ok(cursor)
}

/// The Live page: starts at every enterprise's latest event.
pub async fn live(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Result<Response, ConsoleError> {
    let cursor = state.onboarding.live_start().await?;
    let page = view::LivePage {
        frame: Frame::new(&session, state.sandbox, "live"),
        cursor: encode(&cursor),
    };
    Ok(view::page(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct LiveQuery {
    #[serde(default)]
    cursor: String,
}

/// The events after the page's cursor, as table rows, and the next poller: a
/// long poll that answers as soon as an event commits (or empty after
/// [`LIVE_WAIT`]). Memory per reader is its cursor and one batch.
pub async fn live_events(
    State(state): State<AppState>,
    Signed(_): Signed,
    ConsoleQuery(query): ConsoleQuery<LiveQuery>,
) -> Result<Response, ConsoleError> {
    let mut cursor = decode(&query.cursor)?;
    let found = state
        .onboarding
        .live_after(&mut cursor, LIVE_BATCH, LIVE_WAIT)
        .await?;
    let rows = view::LiveRows {
        events: found
            .iter()
            .map(|e| EventLine::of(&e.enterprise, &e.event))
            .collect(),
        cursor: encode(&cursor),
    };
    Ok(view::page(StatusCode::OK, &rows))
}
