//! The End Users REST API (CONTRACT §2): one typed method per route, each answer
//! parsed into its `onboard-api` type, each refusal a typed [`Error`] carrying
//! the status and the server's `error`/`errors` body.

use std::time::Duration;

use onboard_api::{
    CodeSent, Data, EndUser, EndUserSummary, ErrorBody, EventOut, OutboxMessage, Page,
    UserTokenOut, Verified,
};
use reqwest::{RequestBuilder, StatusCode, Url, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::tls::{Certificates, install_tls_provider};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request with its `{"error", "errors"}` body.
    #[error("{status}: {}", body.error)]
    Api {
        status: StatusCode,
        body: ErrorBody,
        /// `Retry-After` of a 429, when the server sent one.
        retry_after: Option<Duration>,
    },
    /// A non-success answer whose body is not an Onboard error (a proxy's page).
    #[error("{status} with a body that is not an Onboard error: {text}")]
    Unexpected { status: StatusCode, text: String },
    /// A success whose body does not have the expected shape.
    #[error("the answer ({status}) is not {expected}: {reason}")]
    Decode {
        status: StatusCode,
        expected: &'static str,
        reason: String,
    },
    /// The request never got an answer: connection, TLS, timeout.
    #[error("the request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("invalid base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
}

impl Error {
    /// The HTTP status of an answered request.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. }
            | Error::Unexpected { status, .. }
            | Error::Decode { status, .. } => Some(*status),
            Error::Http(e) => e.status(),
            Error::BaseUrl { .. } => None,
        }
    }

    /// The server's error body, when it sent one.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Error::Api { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// A verification channel: `{"type": "email"}` or `{"type": "sms"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

/// Filters of the user list; empty lists every active user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// `client` or `advisor`, in any case.
    pub account_role: Option<String>,
    /// `PENDING`, `VERIFIED` or `UNSUPPORTED`, in any case.
    pub status: Option<String>,
}

impl UserFilter {
    pub fn account_role(mut self, role: impl Into<String>) -> Self {
        self.account_role = Some(role.into());
        self
    }

    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }
}

/// Options of a [`Client`]; [`Client::new`] uses the defaults.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: String,
    connect_timeout: Duration,
    read_timeout: Duration,
    roots: Option<Certificates>,
}

impl ClientBuilder {
    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the server may stay silent while answering (default 30 s). The
    /// whole user list streams, so there is no limit on a request's total time.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Trust these certificate authorities for `https://`, and no others.
    pub fn trust_only(mut self, roots: Certificates) -> Self {
        self.roots = Some(roots);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let base = Url::parse(&self.base_url).map_err(|e| Error::BaseUrl {
            url: self.base_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::BaseUrl {
                url: self.base_url,
                reason: "expected an http:// or https:// URL".into(),
            });
        }
        install_tls_provider();
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout);
        if let Some(roots) = &self.roots {
            http = http.tls_certs_only(roots.reqwest()?);
        }
        Ok(Client {
            http: http.build()?,
            base,
            api_key: self.api_key,
        })
    }
}

/// A client of one server, with one enterprise API key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: String,
}

#[derive(Serialize)]
struct SendBody {
    #[serde(rename = "type")]
    channel: Channel,
}

#[derive(Serialize)]
struct VerifyBody<'a> {
    #[serde(rename = "type")]
    channel: Channel,
    otp: &'a str,
}

#[derive(Serialize)]
struct TokensBody<'a> {
    data: Vec<&'a str>,
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8080`, or with a
    /// path prefix behind a proxy) using the enterprise key `api_key`.
    pub fn new(base_url: &str, api_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder(base_url, api_key).build()
    }

    pub fn builder(base_url: &str, api_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            api_key: api_key.into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            roots: None,
        }
    }

    /// The base URL with `segments` appended, each escaped as one path segment.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `build` refused URLs that cannot be a base, so segments always exist.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn get(&self, url: Url) -> RequestBuilder {
        self.http.get(url).bearer_auth(&self.api_key)
    }

    fn post(&self, url: Url) -> RequestBuilder {
        self.http.post(url).bearer_auth(&self.api_key)
    }

    /// `POST /v1/enterprise/register-account`: `body` is the registration (see
    /// CONTRACT §3); the answer is the new user, full shape.
    pub async fn register<B: Serialize + ?Sized>(&self, body: &B) -> Result<EndUser, Error> {
        let url = self.url(&["v1", "enterprise", "register-account"]);
        data(self.post(url).json(body), "a registered user").await
    }

    /// `GET /v1/enterprise/users/:user_id`: one user, full shape.
    pub async fn user(&self, user_id: &str) -> Result<EndUser, Error> {
        let url = self.url(&["v1", "enterprise", "users", user_id]);
        data(self.get(url), "a user").await
    }

    /// `GET /v1/enterprise/users`: every active user matching `filter`, in one
    /// answer (the server streams it).
    pub async fn users(&self, filter: &UserFilter) -> Result<Vec<EndUserSummary>, Error> {
        let url = list_url(self.url(&["v1", "enterprise", "users"]), filter, None, None);
        data(self.get(url), "a user list").await
    }

    /// `GET /v1/enterprise/users?limit=&cursor=`: one page of at most `limit`
    /// users (1 to 1000); pass the page's `next_cursor` to get the next one.
    pub async fn users_page(
        &self,
        filter: &UserFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<EndUserSummary>, Error> {
        let base = self.url(&["v1", "enterprise", "users"]);
        let url = list_url(base, filter, Some(limit), cursor);
        parse(self.get(url), "a page of users").await
    }

    /// `DELETE /v1/enterprise/account/:user_id`: deactivate.
    pub async fn deactivate(&self, user_id: &str) -> Result<(), Error> {
        let url = self.url(&["v1", "enterprise", "account", user_id]);
        let response = self.http.delete(url).bearer_auth(&self.api_key).send();
        answer(response.await?).await.map(drop)
    }

    /// `POST /v1/enterprise/users/send-verification/:user_id`: send a new code.
    pub async fn send_verification(
        &self,
        user_id: &str,
        channel: Channel,
    ) -> Result<CodeSent, Error> {
        let url = self.url(&["v1", "enterprise", "users", "send-verification", user_id]);
        let request = self.post(url).json(&SendBody { channel });
        data(request, "a sent code").await
    }

    /// `POST /v1/enterprise/users/verify/:user_id`: confirm a code.
    pub async fn verify(
        &self,
        user_id: &str,
        channel: Channel,
        otp: &str,
    ) -> Result<Verified, Error> {
        let url = self.url(&["v1", "enterprise", "users", "verify", user_id]);
        let request = self.post(url).json(&VerifyBody { channel, otp });
        data(request, "a verification").await
    }

    /// `POST /v1/enterprise/user-tokens/:user_id`: one user auth token.
    pub async fn user_token(&self, user_id: &str) -> Result<UserTokenOut, Error> {
        let url = self.url(&["v1", "enterprise", "user-tokens", user_id]);
        data(self.post(url), "a user token").await
    }

    /// `POST /v1/enterprise/user-tokens`: one token per user, all or nothing.
    pub async fn user_tokens<S: AsRef<str>>(
        &self,
        user_ids: &[S],
    ) -> Result<Vec<UserTokenOut>, Error> {
        let url = self.url(&["v1", "enterprise", "user-tokens"]);
        let body = TokensBody {
            data: user_ids.iter().map(AsRef::as_ref).collect(),
        };
        data(self.post(url).json(&body), "a list of user tokens").await
    }

    /// `GET /v1/user` with a user auth token: the user the token belongs to.
    pub async fn token_user(&self, user_token: &str) -> Result<EndUser, Error> {
        let url = self.url(&["v1", "user"]);
        let request = self.http.get(url).bearer_auth(user_token);
        data(request, "a user").await
    }

    /// `GET /v1/enterprise/events?after=&limit=`: the event log after `after`,
    /// oldest first; `limit` defaults to the server's (100).
    pub async fn events(&self, after: i64, limit: Option<u32>) -> Result<Vec<EventOut>, Error> {
        let mut url = self.url(&["v1", "enterprise", "events"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("after", &after.to_string());
            if let Some(limit) = limit {
                query.append_pair("limit", &limit.to_string());
            }
        }
        data(self.get(url), "a list of events").await
    }

    /// `GET /v1/sandbox/messages?user_id=`: the codes sent to one user, newest
    /// first (only on a server run with `--sandbox`).
    pub async fn sandbox_messages(&self, user_id: &str) -> Result<Vec<OutboxMessage>, Error> {
        let mut url = self.url(&["v1", "sandbox", "messages"]);
        url.query_pairs_mut().append_pair("user_id", user_id);
        data(self.get(url), "a list of messages").await
    }
}

fn list_url(mut url: Url, filter: &UserFilter, limit: Option<u32>, cursor: Option<&str>) -> Url {
    {
        let mut query = url.query_pairs_mut();
        if let Some(role) = &filter.account_role {
            query.append_pair("accountRole", role);
        }
        if let Some(status) = &filter.status {
            query.append_pair("status", status);
        }
        if let Some(limit) = limit {
            query.append_pair("limit", &limit.to_string());
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

/// Sends, and parses a success body `{"data": T}`.
async fn data<T: DeserializeOwned>(
    request: RequestBuilder,
    expected: &'static str,
) -> Result<T, Error> {
    parse::<Data<T>>(request, expected).await.map(|d| d.data)
}

/// Sends, and parses a success body as `T`.
async fn parse<T: DeserializeOwned>(
    request: RequestBuilder,
    expected: &'static str,
) -> Result<T, Error> {
    let (status, body) = answer(request.send().await?).await?;
    serde_json::from_slice(&body).map_err(|e| Error::Decode {
        status,
        expected,
        reason: e.to_string(),
    })
}

/// The status and body of a success, or the typed error of anything else.
async fn answer(response: reqwest::Response) -> Result<(StatusCode, Vec<u8>), Error> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await?.to_vec();
    if status.is_success() {
        return Ok((status, body));
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(body) => Err(Error::Api {
            status,
            body,
            retry_after,
        }),
        Err(_) => Err(Error::Unexpected {
            status,
            text: String::from_utf8_lossy(&body).chars().take(512).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_user_ids_and_keep_a_base_prefix() {
        let client = Client::new("http://127.0.0.1:9/onboard/", "k").unwrap();
        let url = client.url(&["v1", "enterprise", "users", "a/b c"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/onboard/v1/enterprise/users/a%2Fb%20c"
        );
        let bare = Client::new("http://127.0.0.1:9", "k").unwrap();
        assert_eq!(
            bare.url(&["v1", "user"]).as_str(),
            "http://127.0.0.1:9/v1/user"
        );
    }

    #[test]
    fn list_queries_name_only_what_is_given() {
        let client = Client::new("http://127.0.0.1:9", "k").unwrap();
        let base = client.url(&["v1", "enterprise", "users"]);
        let all = list_url(base.clone(), &UserFilter::default(), None, None);
        assert_eq!(all.as_str(), "http://127.0.0.1:9/v1/enterprise/users");
        let filter = UserFilter::default()
            .account_role("advisor")
            .status("VERIFIED");
        let page = list_url(base, &filter, Some(2), Some("c+1"));
        assert_eq!(
            page.query(),
            Some("accountRole=advisor&status=VERIFIED&limit=2&cursor=c%2B1")
        );
    }

    #[test]
    fn only_http_base_urls_are_accepted() {
        for url in ["ws://127.0.0.1:9", "mailto:a@example.com", "not a url"] {
            let error = Client::new(url, "k").unwrap_err();
            assert!(matches!(error, Error::BaseUrl { .. }), "{url}: {error}");
        }
    }
}
