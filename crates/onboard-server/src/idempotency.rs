//! `Idempotency-Key` on every `POST` under `/v1/enterprise/` (CONTRACT §8), as a
//! middleware around the routes: the rules are the service's
//! ([`onboard_core::service::Retry`]); here the request body is fingerprinted as
//! it streams to the handler (never buffered whole), and the first answer is
//! captured, kept, and given again to retries.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as _, Frame, SizeHint};
use onboard_core::service::{IdempotencyKey, Onboarding, Retry, ServiceError};
use onboard_core::store::{Enterprise, KeptAnswer, RequestTarget};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::bearer;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on an answer given again to a retry.
pub const REPLAYED: &str = "idempotent-replayed";

/// The most body bytes fingerprinted; a larger request runs, but its answer is
/// not kept (no route accepts a body this large anyway).
const MAX_FINGERPRINTED: u64 = 64 * 1024 * 1024;
/// The largest answer kept; every answer of these routes is far smaller.
const MAX_KEPT_ANSWER: usize = 4 * 1024 * 1024;
/// How long a request waits for another with its key to answer, then 409.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

pub async fn idempotent(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.uri().path().starts_with("/v1/enterprise/") {
        return next.run(request).await;
    }
    let Some(raw) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match IdempotencyKey::parse(raw.as_bytes()) {
        Ok(key) => key,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (parts, body) = request.into_parts();
    // Without a valid API key the route refuses the request; nothing is kept.
    let Some(enterprise) = authenticated(&state.onboarding, &parts).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let target = RequestTarget {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
    };
    let retry = Retrying {
        onboarding: &state.onboarding,
        enterprise: &enterprise,
        key: &key,
        target: &target,
    };
    match retry.claim().await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Claimed::Replay(kept)) => retry.replay(kept, body).await,
        Ok(Claimed::Run) => {
            let (body, print) = Fingerprinting::new(body);
            let response = next.run(Request::from_parts(parts, Body::new(body))).await;
            retry.keep(response, print).await
        }
    }
}

async fn authenticated(
    onboarding: &Onboarding,
    parts: &axum::http::request::Parts,
) -> Option<Enterprise> {
    onboarding.authenticate(bearer(parts)?).await.ok()
}

enum Claimed {
    Run,
    Replay(KeptAnswer),
}

struct Retrying<'a> {
    onboarding: &'a Onboarding,
    enterprise: &'a Enterprise,
    key: &'a IdempotencyKey,
    target: &'a RequestTarget,
}

impl Retrying<'_> {
    /// Claims the key, waiting a while for a request that holds it to answer.
    async fn claim(&self) -> Result<Claimed, ServiceError> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
        loop {
            let claim = self
                .onboarding
                .claim_key(self.enterprise, self.key, self.target)
                .await?;
            match claim {
                Retry::Run => return Ok(Claimed::Run),
                Retry::Replay(kept) => return Ok(Claimed::Replay(kept)),
                Retry::Wait if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Retry::Wait => {
                    return Err(ServiceError::Conflict(format!(
                        "a request with Idempotency-Key {:?} is still running; retry shortly",
                        self.key.as_str()
                    )));
                }
            }
        }
    }

    /// The first answer again, if this retry is the same request.
    async fn replay(&self, kept: KeptAnswer, body: Body) -> Response {
        let Some(fingerprint) = Fingerprint::of(body).await else {
            return ApiError::bad_request("the request body could not be read").into_response();
        };
        if let Err(e) = Onboarding::check_retry(self.key, &kept, self.target, &fingerprint) {
            return ApiError::from(e).into_response();
        }
        let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
        let mut response = (status, kept.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
        response
    }

    /// Keeps the first answer (or frees the key when it is not to be kept), then
    /// sends it.
    async fn keep(&self, response: Response, print: Fingerprint) -> Response {
        let status = response.status().as_u16();
        let fingerprint = print.finish().await;
        let Some(fingerprint) = fingerprint.filter(|_| Onboarding::answer_is_kept(status)) else {
            self.release().await;
            return response;
        };
        let (parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_KEPT_ANSWER).await {
            Ok(bytes) => bytes,
            Err(e) => {
                self.release().await;
                let why = format!("the answer could not be read back to keep it: {e}");
                return ApiError::Service(ServiceError::Internal(why)).into_response();
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            self.release().await;
            return Response::from_parts(parts, Body::from(bytes));
        };
        let answer = KeptAnswer {
            request: self.target.clone(),
            fingerprint,
            status,
            body: text.to_owned(),
        };
        if let Err(e) = self
            .onboarding
            .keep_answer(self.enterprise, self.key, &answer)
            .await
        {
            // The work is done and its answer goes out; a retry within the claim's
            // lease waits, after it runs again.
            tracing::warn!(error = %e, "an idempotent answer could not be kept");
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    async fn release(&self) {
        if let Err(e) = self.onboarding.release_key(self.enterprise, self.key).await {
            tracing::warn!(error = %e, "an idempotency key could not be released");
        }
    }
}

/// The SHA-256 of a request body as the handler reads it. What the handler
/// leaves unread is handed back when it drops the body and read by
/// [`Fingerprint::finish`], so the fingerprint always covers the whole body.
struct Fingerprinting {
    inner: Option<Body>,
    shared: Arc<Mutex<Hashing>>,
}

#[derive(Default)]
struct Hashing {
    hasher: Sha256,
    bytes: u64,
    ended: bool,
    failed: bool,
    rest: Option<Body>,
}

impl Hashing {
    fn add(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        if self.bytes > MAX_FINGERPRINTED {
            self.failed = true;
        } else {
            self.hasher.update(data);
        }
    }
}

struct Fingerprint(Arc<Mutex<Hashing>>);

impl Fingerprinting {
    fn new(body: Body) -> (Fingerprinting, Fingerprint) {
        let shared = Arc::new(Mutex::new(Hashing::default()));
        let wrapped = Fingerprinting {
            inner: Some(body),
            shared: shared.clone(),
        };
        (wrapped, Fingerprint(shared))
    }

    fn hashing(&self) -> std::sync::MutexGuard<'_, Hashing> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Fingerprinting {
    fn drop(&mut self) {
        let rest = self.inner.take();
        let mut hashing = self.hashing();
        if !hashing.ended {
            hashing.rest = rest;
        }
    }
}

impl http_body::Body for Fingerprinting {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.hashing().add(data);
                }
            }
            Poll::Ready(Some(Err(_))) => this.hashing().failed = true,
            Poll::Ready(None) => this.hashing().ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Fingerprint {
    /// The fingerprint of a whole body, read here.
    async fn of(body: Body) -> Option<String> {
        let (wrapped, print) = Fingerprinting::new(body);
        drop(wrapped);
        print.finish().await
    }

    /// Reads what the handler left unread, and gives the hex digest; `None` when
    /// the body failed, was cut short or was too large.
    async fn finish(self) -> Option<String> {
        let rest = {
            let mut hashing = self.0.lock().unwrap_or_else(|e| e.into_inner());
            hashing.rest.take()
        };
        if let Some(mut rest) = rest {
            loop {
                match std::future::poll_fn(|cx| Pin::new(&mut rest).poll_frame(cx)).await {
                    Some(Ok(frame)) => {
                        let mut hashing = self.0.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(data) = frame.data_ref() {
                            hashing.add(data);
                        }
                        if hashing.failed {
                            return None;
                        }
                    }
                    Some(Err(_)) => return None,
                    None => {
                        self.0.lock().unwrap_or_else(|e| e.into_inner()).ended = true;
                        break;
                    }
                }
            }
        }
        let hashing = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        if hashing.failed || !hashing.ended {
            return None;
        }
        Some(hex::encode(hashing.hasher.finalize()))
    }
}
