//! The route table: every vendor path, and each extension, in one place.
//! Each handler names the CONTRACT section it implements.

pub(crate) mod documents;
mod edd;
mod events;
mod framing;
mod health;
mod list;
mod openapi;
mod sandbox;
mod tokens;
mod upload;
mod users;
mod verify;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{delete, get, post};

use crate::error::{ApiError, Rejection};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let body_limit = state.body_limit;
    let sandbox = state.sandbox;
    let router = Router::new()
        // Vendor paths (CONTRACT §2).
        .route("/v1/enterprise/register-account", post(users::register))
        .route("/v1/enterprise/users", get(list::list_users))
        .route("/v1/enterprise/users/{user_id}", get(users::get_user))
        .route(
            "/v1/enterprise/account/{user_id}",
            delete(users::deactivate),
        )
        .route(
            "/v1/enterprise/users/send-verification/{user_id}",
            post(verify::send),
        )
        .route(
            "/v1/enterprise/users/verify/{user_id}",
            post(verify::verify),
        )
        .route(
            "/v1/enterprise/user-tokens/{user_id}",
            post(tokens::mint_one),
        )
        .route("/v1/enterprise/user-tokens", post(tokens::mint_many))
        // Enhanced due diligence and documents (CONTRACT §7); uploads stream, under
        // their own body limit.
        .route("/v1/enterprise/eddq/prompts", get(edd::prompts))
        .route("/v1/enterprise/eddq/requests", get(edd::requests))
        .route("/v1/enterprise/eddq/responses", post(edd::responses))
        .route(
            "/v1/enterprise/ddq/upload",
            post(documents::upload_legacy).layer(DefaultBodyLimit::max(upload::UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/v1/files/verification",
            post(documents::upload_verification)
                .layer(DefaultBodyLimit::max(upload::UPLOAD_BODY_LIMIT)),
        )
        .route("/v1/enterprise/documents", get(documents::list))
        .route("/v1/enterprise/documents/{id}", get(documents::download))
        // Extensions (CONTRACT §2, "Extensions").
        .route("/v1/user", get(tokens::me))
        .route("/v1/enterprise/events", get(events::list_events))
        .route(
            "/v1/enterprise/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/v1/enterprise/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/v1/enterprise/webhooks/{id}/rotate-secret",
            post(webhooks::rotate),
        )
        .route(
            "/v1/enterprise/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/v1/enterprise/webhooks/{id}/replay",
            post(webhooks::replay),
        )
        .route("/ws", get(crate::feed::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::document));
    // Codes are readable over HTTP only in sandbox mode; otherwise the route does
    // not exist at all.
    let router = if sandbox {
        router
            .route("/v1/sandbox/messages", get(sandbox::messages))
            .route("/v1/sandbox/eddq/requests", post(edd::sandbox_open))
    } else {
        router
    };
    router
        // The operator console (CONTRACT §10): HTML pages under /console.
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if uri.path() == "/console" || uri.path().starts_with("/console/") {
        return crate::console::not_found();
    }
    ApiError::Rejected(
        Rejection::NoRoute,
        format!("there is no route for {method} {}", uri.path()),
    )
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if uri.path().starts_with("/console/") {
        return crate::console::method_not_allowed();
    }
    ApiError::Rejected(
        Rejection::WrongMethod,
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into_response()
}
