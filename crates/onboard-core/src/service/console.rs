//! The operator console's use cases (CONTRACT §10): signing in and out, sessions
//! that end after [`SESSION_IDLE`] without use, the lockout of a name after
//! failed sign-ins ([`LOCKOUT`]), and the reads the pages show across every
//! enterprise. Reviews go through [`Onboarding::review`] like the CLI's, with
//! the signed-in operator as the [`Actor`].

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::{Actor, Onboarding, ServiceError};
use crate::access::Password;
use crate::edd::Document;
use crate::events::Event;
use crate::secret::KeyHash;
use crate::store::{
    ConsoleEdd, ConsoleFilter, ConsoleListed, Enterprise, EnterpriseId, Lockout, SessionRecord,
};
use crate::user::User;

/// A session unused for this long has ended.
pub const SESSION_IDLE: Duration = Duration::hours(12);

/// Five failed sign-ins of one name within 15 minutes lock it for 15 minutes.
pub const LOCKOUT: Lockout = Lockout {
    max: 5,
    window: Duration::minutes(15),
    lock: Duration::minutes(15),
};

/// A session's last use is written at most this often (one write a minute for a
/// busy operator, whichever node serves them).
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// How many events of one user the User page shows, newest first.
pub const TIMELINE_EVENTS: u32 = 200;

/// Names longer than any operator name are counted under their first characters,
/// so a failure row stays small whatever was typed.
const NAME_KEY_CHARS: usize = crate::access::OperatorName::MAX_CHARS;

/// A signed-in operator, as every console request finds it.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub actor: Actor,
    /// The anti-forgery token every form of the session carries.
    pub csrf: String,
}

/// What a sign-in attempt came to. A wrong password, an unknown name and a
/// disabled operator are one answer, so that names cannot be probed.
#[derive(Debug)]
pub enum SignIn {
    /// The session token (for the cookie, shown once) and the session.
    Signed {
        token: String,
        session: ConsoleSession,
    },
    Refused,
    /// Too many failures: the name is refused until then.
    Locked {
        until: OffsetDateTime,
    },
}

/// Everything the User page shows about one user.
#[derive(Debug)]
pub struct ConsoleUser {
    pub enterprise: Enterprise,
    pub user: User,
    pub edd: Vec<ConsoleEdd>,
    pub documents: Vec<Document>,
    /// Newest first.
    pub events: Vec<Event>,
}

/// An event of the Live page, with its enterprise.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub enterprise: String,
    pub event: Event,
}

/// Where a Live page reader stands in each enterprise's log.
pub type LiveCursor = BTreeMap<i64, i64>;

fn random_hex(random: &dyn crate::random::Random) -> String {
    let mut bytes = [0u8; 32];
    random.fill(&mut bytes);
    hex::encode(bytes)
}

fn name_key(name: &str) -> String {
    name.chars().take(NAME_KEY_CHARS).collect()
}

/// How long the sign-in form's anti-forgery token is accepted after it was issued.
pub const SIGN_IN_FORM_LIFETIME: Duration = Duration::hours(1);

/// A sign-in form token: a nonce and its expiry, tagged under the server's key.
/// There is no session yet to hold a token, and a token the browser merely
/// repeats (cookie = field) lets whoever can plant a cookie sign a victim in as
/// themselves; a tagged one can only come from this server.
fn sign_in_tag(key: &[u8; 32], nonce: &[u8], expires: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [b"console-sign-in-form".as_slice(), nonce, expires] {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl Onboarding {
    /// A fresh anti-forgery token for the sign-in form, valid for
    /// [`SIGN_IN_FORM_LIFETIME`] on any node.
    pub async fn sign_in_form_token(&self) -> Result<String, ServiceError> {
        let key = self.cursor_key().await?;
        let mut nonce = [0u8; 16];
        self.random.fill(&mut nonce);
        let expires = (self.clock.now() + SIGN_IN_FORM_LIFETIME)
            .unix_timestamp()
            .to_be_bytes();
        let tag = sign_in_tag(&key, &nonce, &expires);
        Ok(format!(
            "{}{}{}",
            hex::encode(nonce),
            hex::encode(expires),
            hex::encode(&tag[..16])
        ))
    }

    /// Whether `token` is a sign-in form token this server issued that has not
    /// expired.
    pub async fn sign_in_form_token_valid(&self, token: &str) -> Result<bool, ServiceError> {
        let Some(bytes) = hex::decode(token).ok().filter(|b| b.len() == 40) else {
            return Ok(false);
        };
        let (nonce, rest) = bytes.split_at(16);
        let (expires, tag) = rest.split_at(8);
        let key = self.cursor_key().await?;
        let expected = sign_in_tag(&key, nonce, expires);
        let genuine = expected[..16]
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0;
        let expires = i64::from_be_bytes(expires.try_into().expect("8 bytes"));
        Ok(genuine && self.clock.now().unix_timestamp() < expires)
    }

    /// Checks a name and password and, when they match an operator who may act,
    /// opens a session. Failures count per name, known or not.
    pub async fn console_sign_in(
        &self,
        name: &str,
        password: &Password,
    ) -> Result<SignIn, ServiceError> {
        let key = name_key(name);
        let now = self.clock.now();
        if let Some(until) = self.store.sign_in_locked_until(&key, now).await? {
            return Ok(SignIn::Locked { until });
        }
        // The attempt counts as a failure before the (slow) password check, and is
        // taken back if the password matches: concurrent guesses each take one of
        // the allowed failures first, so no more than that many are ever checked.
        let locks = self
            .store
            .record_sign_in_failure(&key, LOCKOUT, now)
            .await?;
        if locks.is_none()
            && let Some(until) = self.store.sign_in_locked_until(&key, now).await?
        {
            // Locked by concurrent attempts: this one was not counted or checked.
            return Ok(SignIn::Locked { until });
        }
        let Some(actor) = self.verify_operator(name, password).await? else {
            return Ok(match locks {
                Some(until) => SignIn::Locked { until },
                None => SignIn::Refused,
            });
        };
        self.store.clear_sign_in_failures(&key).await?;
        let token = random_hex(self.random.as_ref());
        let record = SessionRecord {
            token_hash: KeyHash::of(&token),
            operator: actor.name.to_string(),
            csrf: random_hex(self.random.as_ref()),
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_IDLE,
        };
        self.store.insert_console_session(&record).await?;
        let session = ConsoleSession {
            actor,
            csrf: record.csrf,
        };
        Ok(SignIn::Signed { token, session })
    }

    /// The live session a cookie's token names, its use recorded; `None` when it
    /// names none, has been idle too long, or its operator may no longer act.
    pub async fn console_session(
        &self,
        token: &str,
    ) -> Result<Option<ConsoleSession>, ServiceError> {
        let hash = KeyHash::of(token);
        let Some(record) = self.store.console_session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if record.expires_at <= now {
            self.store.delete_console_session(&hash).await?;
            return Ok(None);
        }
        let actor = match self.actor(&record.operator).await {
            Ok(actor) => actor,
            Err(ServiceError::NotFound(_) | ServiceError::Forbidden(_)) => {
                self.store.delete_console_session(&hash).await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if now - record.last_seen_at >= TOUCH_EVERY {
            self.store
                .touch_console_session(&hash, now, now + SESSION_IDLE)
                .await?;
        }
        Ok(Some(ConsoleSession {
            actor,
            csrf: record.csrf,
        }))
    }

    pub async fn console_sign_out(&self, token: &str) -> Result<(), ServiceError> {
        Ok(self
            .store
            .delete_console_session(&KeyHash::of(token))
            .await?)
    }

    /// Every enterprise, by id (the Users page's filter, the Live page).
    pub async fn enterprises(&self) -> Result<Vec<Enterprise>, ServiceError> {
        Ok(self.store.list_enterprises().await?)
    }

    /// A page of the Users page and the position the next one starts after.
    pub async fn console_users(
        &self,
        filter: &ConsoleFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<ConsoleListed>, Option<i64>), ServiceError> {
        let mut users = self.store.console_users(filter, after, limit + 1).await?;
        let next = if users.len() > limit as usize {
            users.truncate(limit as usize);
            users.last().map(|u| u.position)
        } else {
            None
        };
        Ok((users, next))
    }

    /// Users waiting for an operator: `PENDING` with nothing else required.
    pub async fn review_queue(&self, limit: u32) -> Result<Vec<ConsoleListed>, ServiceError> {
        Ok(self.store.review_queue(limit).await?)
    }

    /// Every EDD request not yet reviewed, oldest first.
    pub async fn open_edd(&self, limit: u32) -> Result<Vec<ConsoleEdd>, ServiceError> {
        Ok(self.store.console_edd(None, limit).await?)
    }

    /// The User page: the user, its EDD requests, documents and timeline.
    pub async fn console_user(
        &self,
        enterprise: &str,
        user_id: &str,
    ) -> Result<ConsoleUser, ServiceError> {
        let enterprise = self.enterprise_named(enterprise).await?;
        let user = self
            .store
            .find_user(enterprise.id, user_id)
            .await?
            .ok_or_else(|| super::user_not_found(user_id))?;
        let at = Some((enterprise.id, user_id));
        let edd = self.store.console_edd(at, super::MAX_LIST).await?;
        let documents = self
            .store
            .list_documents(enterprise.id, Some(user_id), 0, super::MAX_LIST)
            .await?;
        let events = self
            .store
            .user_events(enterprise.id, user_id, TIMELINE_EVENTS)
            .await?;
        Ok(ConsoleUser {
            enterprise,
            user,
            edd,
            documents,
            events,
        })
    }

    /// The Outbox page (sandbox mode): the latest stored messages of every
    /// enterprise, newest first.
    pub async fn console_outbox(
        &self,
        limit: u32,
    ) -> Result<Vec<crate::store::OutboxEntry>, ServiceError> {
        Ok(self.store.list_outbox(None, None, limit).await?)
    }

    /// The Live page's start: every enterprise's latest event id.
    pub async fn live_start(&self) -> Result<LiveCursor, ServiceError> {
        let mut cursor = LiveCursor::new();
        for enterprise in self.store.list_enterprises().await? {
            cursor.insert(enterprise.id.0, self.latest_event(enterprise.id).await?);
        }
        Ok(cursor)
    }

    /// Events committed after `cursor` in any enterprise, at most `limit` of each,
    /// waiting up to `wait` for one to commit when there are none yet (woken by
    /// the same change signal as the feed). Advances `cursor`.
    pub async fn live_after(
        &self,
        cursor: &mut LiveCursor,
        limit: u32,
        wait: std::time::Duration,
    ) -> Result<Vec<LiveEvent>, ServiceError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let enterprises = self.store.list_enterprises().await?;
            let wakers: Vec<_> = enterprises.iter().map(|e| self.changes(e.id)).collect();
            let notified: Vec<_> = wakers.iter().map(|w| Box::pin(w.notified())).collect();
            let found = self.live_read(&enterprises, cursor, limit).await?;
            if !found.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(found);
            }
            // Woken by a commit on this node, or polling for other processes'.
            let changed = async move {
                if notified.is_empty() {
                    // No enterprise yet: only the poll can find the first one.
                    std::future::pending::<()>().await;
                }
                futures_util::future::select_all(notified).await;
            };
            let poll = tokio::time::sleep(std::time::Duration::from_millis(500));
            tokio::select! {
                () = changed => {}
                () = poll => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn live_read(
        &self,
        enterprises: &[Enterprise],
        cursor: &mut LiveCursor,
        limit: u32,
    ) -> Result<Vec<LiveEvent>, ServiceError> {
        let mut found = Vec::new();
        for enterprise in enterprises {
            let EnterpriseId(id) = enterprise.id;
            let after = *cursor.entry(id).or_insert(0);
            let events = self.store.read_events(enterprise.id, after, limit).await?;
            if let Some(last) = events.last() {
                cursor.insert(id, last.event_id);
            }
            found.extend(events.into_iter().map(|event| LiveEvent {
                enterprise: enterprise.name.clone(),
                event,
            }));
        }
        found.sort_by_key(|e| e.event.at);
        Ok(found)
    }
}
