//! Wire types of the Onboard API: the JSON that crosses the network, and nothing else.
//!
//! Every struct here mirrors a shape from the vendor's pages or a decision of
//! `docs/CONTRACT.md` (cited as `CONTRACT §n`), field for field and in the vendor's
//! key order, because `serde_json` writes struct fields in declaration order and
//! integrators diff bodies. The vendor's pages:
//!
//! - *Get End User*, the full shape: <https://docs.sfox.com/connect/rest-api/end-users/get-end-user>
//! - *Get Multiple End Users*, the list shape:
//!   <https://docs.sfox.com/connect/rest-api/end-users/get-multiple-end-users>
//! - *Onboarding*, the feed's payload: <https://docs.sfox.com/connect/websocket-api/end-users/users>
//!
//! Start with [`EndUser`] (the full shape) and [`EndUserSummary`] (the list shape).
//!
//! This crate has no server dependencies, so a client never compiles the server.

use serde::{Deserialize, Serialize};

/// `{"data": …}`: every success body wraps its result (CONTRACT §1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Data<T> {
    pub data: T,
}

/// A page of the user list when `limit` is given (CONTRACT §2, extension).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `{"error": "…", "errors": [...]}` (CONTRACT §1). `errors` appears only on
/// validation failures, listing every problem of the request at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One validation problem: `field` is a dotted path such as `individual.dob` or
/// `beneficial_owners[0].ssn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// `requirements`: `true` means "still required" (CONTRACT §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    pub email: bool,
    pub sms: bool,
}

/// The list shape (*Get Multiple End Users*). The server stores each user's as
/// JSON with its row: a change here needs a migration that clears that JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndUserSummary {
    pub account_type: String,
    pub account_role: String,
    pub user_id: String,
    pub advisor_user_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub status: String,
    pub requirements: Requirements,
}

/// The full shape (*Get End User*): the list shape plus the registration profile.
///
/// Deliberate deviation: the vendor's corporate example omits `id`, its individual
/// example has it; CONTRACT §2 lists `id` in the full shape, so both carry it.
///
/// The server stores each user's as JSON with its row: a change here needs a
/// migration that clears that JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndUser {
    pub account_type: String,
    pub account_role: String,
    pub user_id: String,
    pub advisor_user_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub account_purpose: String,
    pub account_purpose_other: Option<String>,
    pub source_of_funds: Option<String>,
    pub source_of_funds_other: Option<String>,
    pub id: String,
    pub phone_country_code: String,
    pub intermediary_status: Option<String>,
    pub expected_transfer_volume: Option<String>,
    pub expected_trade_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub individual: Option<Individual>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub business: Option<Business>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub beneficial_owners: Option<Vec<BeneficialOwner>>,
    pub status: String,
    pub requirements: Requirements,
}

/// The profile part of the full shape: everything a registration sets that the list
/// shape does not show. Stored as-is (already normalised and masked) and copied into
/// [`EndUser`] on read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub account_purpose: String,
    pub account_purpose_other: Option<String>,
    pub source_of_funds: Option<String>,
    pub source_of_funds_other: Option<String>,
    pub phone_country_code: String,
    pub intermediary_status: Option<String>,
    pub expected_transfer_volume: Option<String>,
    pub expected_trade_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub individual: Option<Individual>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub business: Option<Business>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub beneficial_owners: Option<Vec<BeneficialOwner>>,
}

/// `individual {…}` of *Get End User*. `id_number` is only ever the masked form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Individual {
    pub dob: String,
    pub residential_country_code: String,
    pub residential_address: String,
    pub residential_city: String,
    pub residential_state: Option<String>,
    pub residential_postal_code: String,
    pub id_type: String,
    pub id_number: String,
    pub id_country_code: String,
    pub employment_status: Option<String>,
    pub industry: Option<String>,
    pub occupation: Option<String>,
    pub job_title: Option<String>,
}

/// `business {…}` of *Get End User*. `registration_number` is only ever masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Business {
    pub entity_name: String,
    pub incorporation_country: String,
    pub incorporation_state: Option<String>,
    pub organization_type: String,
    pub business_type: String,
    pub registration_number: String,
    pub website: Option<String>,
    pub description: Option<String>,
    pub incorporation_date: String,
    pub accredited_investor: bool,
    pub non_agent_intermediary: bool,
    pub principal_place_country: String,
    pub principal_place_state: Option<String>,
    pub principal_place_address: String,
    pub principal_place_city: String,
    pub principal_place_postal_code: String,
}

/// One of `beneficial_owners [...]` of *Get End User*; `id` is made by the server and
/// `ssn` (which holds the SSN or passport number, per `id_type`) is only ever masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeneficialOwner {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub phone_number: String,
    pub dob: String,
    pub ssn: String,
    pub address_street1: String,
    pub address_city: String,
    pub address_subdivision: Option<String>,
    pub address_country_code: String,
    pub address_postal_code: String,
    pub id_type: String,
    pub id_country_code: String,
    pub job_title: Option<String>,
    pub employment_status: Option<String>,
    pub industry: Option<String>,
    pub occupation: Option<String>,
}

/// The vendor's 401 sentence, verbatim (CONTRACT §1).
pub const UNAUTHORIZED: &str = "invalid token. check authorization header.";

/// One entry of the event log, as `GET /v1/enterprise/events` returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventOut {
    pub event_id: i64,
    #[serde(rename = "type")]
    pub r#type: String,
    pub cause: String,
    /// The operator whose action caused the event (approve, reject); absent for
    /// the user's own steps. An addition to the log's shape, not the feed's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator: Option<String>,
    /// The operator's note on that action (possibly empty); absent with `operator`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    pub created_at: String,
    pub user: EndUserSummary,
    /// `edd.requested` and `edd.updated`: the request right after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edd_request: Option<EddRequestOut>,
    /// `document.uploaded`: the document's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentOut>,
}

/// `send-verification`'s answer: the channel's address is named after the channel
/// (`email` or `phone_number`), as CONTRACT §2 shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeSent {
    pub user_id: String,
    #[serde(rename = "type")]
    pub r#type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone_number: Option<String>,
}

/// `verify`'s answer (CONTRACT §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verified {
    pub success: bool,
    pub user_id: String,
    #[serde(rename = "type")]
    pub r#type: String,
}

/// A user auth token (CONTRACT §2; `user_token` of *Onboarding*).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserTokenOut {
    pub token: String,
    pub partner_user_id: String,
    pub expires: String,
}

/// A message the outbox channel stored (`GET /v1/sandbox/messages`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub channel: String,
    pub to: String,
    pub code: String,
    pub sent_at: String,
}

/// The name of the one feed (CONTRACT §5, *Onboarding*).
pub const USERS_FEED: &str = "private.enterprise.users";

/// A feed message (CONTRACT §5): `payload` is exactly the shape of *Onboarding*.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedMessage {
    pub sequence: u64,
    pub recipient: String,
    pub timestamp: i64,
    pub event_id: i64,
    pub payload: FeedPayload,
}

/// `payload` of a feed message, in the vendor's key order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedPayload {
    pub user_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone_number: String,
    pub account_role: String,
    pub account_type: String,
    pub status: String,
    pub user_token: Option<FeedToken>,
    pub requirements: FeedRequirements,
}

/// `user_token` of a feed payload, in the vendor's key order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedToken {
    pub token: String,
    pub expires: String,
    pub partner_user_id: String,
}

/// `requirements` of a feed payload: the vendor writes `sms` first here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedRequirements {
    pub sms: bool,
    pub email: bool,
}

/// A reply to a client message (CONTRACT §5): `type` is `success` or `error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    #[serde(rename = "type")]
    pub r#type: String,
    pub sequence: u64,
    pub timestamp: i64,
    pub payload: ReplyPayload,
    pub action: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyPayload {
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub feeds: Option<Vec<String>>,
    /// On a subscribe success: the `event_id` after which the subscription starts
    /// (an extension: a client that reconnects resumes from here).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// A message a feed client sends (CONTRACT §5), written as the vendor's examples
/// write them: `{"type": "authenticate", "apiKey": …, "enterprise": true}`,
/// `{"type": "subscribe", "feeds": […], "after": …}`, `{"type": "unsubscribe", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    Authenticate {
        #[serde(rename = "apiKey")]
        api_key: String,
        enterprise: bool,
    },
    Subscribe {
        feeds: Vec<String>,
        /// Replay every event after this `event_id`, then continue live (extension).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        after: Option<i64>,
    },
    Unsubscribe {
        feeds: Vec<String>,
    },
}

/// Anything the feed server sends: an event of a subscribed feed, or a reply to a
/// client message. The two are told apart by their keys (a reply has `type`, an
/// event has `event_id` and `recipient`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerMessage {
    Feed(FeedMessage),
    Reply(Reply),
}

/// A webhook endpoint (CONTRACT §9). `secret` appears only when the endpoint is
/// created and when its secret is rotated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEndpointOut {
    pub id: String,
    pub url: String,
    pub description: String,
    /// `null`: every event type.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret: Option<String>,
    /// Why the server disabled the endpoint (`null` unless it did).
    pub disabled_reason: Option<String>,
}

/// One attempt of the deliveries list (CONTRACT §9).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookAttemptOut {
    pub event_id: i64,
    pub webhook_id: String,
    pub attempt: u32,
    pub attempted_at: String,
    /// `succeeded`, `pending` (will be retried) or `failed` (given up).
    pub status: String,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    /// The first KiB of the answer, or why there was none.
    pub response: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_written_as_the_contract_shows() {
        let auth = ClientMessage::Authenticate {
            api_key: "k".into(),
            enterprise: true,
        };
        assert_eq!(
            serde_json::to_string(&auth).unwrap(),
            r#"{"type":"authenticate","apiKey":"k","enterprise":true}"#
        );
        let live = ClientMessage::Subscribe {
            feeds: vec![USERS_FEED.into()],
            after: None,
        };
        assert_eq!(
            serde_json::to_string(&live).unwrap(),
            r#"{"type":"subscribe","feeds":["private.enterprise.users"]}"#
        );
        let replay = ClientMessage::Subscribe {
            feeds: vec![USERS_FEED.into()],
            after: Some(7),
        };
        assert_eq!(
            serde_json::to_string(&replay).unwrap(),
            r#"{"type":"subscribe","feeds":["private.enterprise.users"],"after":7}"#
        );
    }

    #[test]
    fn server_messages_are_told_apart() {
        let reply = r#"{"type":"success","sequence":2,"timestamp":1717005327995988841,
            "payload":{"action":"subscribe","feeds":["private.enterprise.users"],"after":4},
            "action":"subscribe"}"#;
        match serde_json::from_str::<ServerMessage>(reply).unwrap() {
            ServerMessage::Reply(r) => {
                assert_eq!(r.r#type, "success");
                assert_eq!(r.payload.after, Some(4));
            }
            other => panic!("a reply read as {other:?}"),
        }
        let event = r#"{"sequence":5,"recipient":"private.enterprise.users",
            "timestamp":1717005327995988841,"event_id":1042,"payload":{
            "user_id":"u","first_name":"A","last_name":"B","email":"a@example.com",
            "phone_number":"+12223334444","account_role":"Client","account_type":"individual",
            "status":"PENDING","user_token":null,"requirements":{"sms":true,"email":true}}}"#;
        match serde_json::from_str::<ServerMessage>(event).unwrap() {
            ServerMessage::Feed(m) => {
                assert_eq!(m.event_id, 1042);
                assert_eq!(m.payload.user_id, "u");
            }
            other => panic!("an event read as {other:?}"),
        }
    }
}

/// One prompt of an EDD questionnaire (CONTRACT §7), in the contract's key order.
/// `response_options` is a list of strings for Single-Select prompts, else null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EddPromptOut {
    pub id: i64,
    pub required_form: String,
    pub prompt_id: i64,
    pub ddq_id: i64,
    pub account_type: String,
    pub is_required: bool,
    pub prompt: String,
    pub response_type: String,
    pub response_options: Option<Vec<String>>,
    pub optional_free_form: bool,
}

/// An EDD request (CONTRACT §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EddRequestOut {
    pub id: i64,
    pub user_id: String,
    pub ddq_id: i64,
    pub required_form: String,
    pub status: String,
    pub date_added: String,
    pub date_updated: String,
}

/// A stored document's metadata (CONTRACT §7, extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentOut {
    pub id: i64,
    pub user_id: String,
    pub filename: String,
    pub document_type: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: String,
    pub ddq_id: Option<i64>,
}

/// The answer of both upload routes: 202 `{"message": "Files uploaded successfully"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadAccepted {
    pub message: String,
}
