//! The end user as the domain knows it, and its two wire shapes (CONTRACT §2).

use onboard_api::{EndUser, EndUserSummary, Profile, Requirements};
use uuid::Uuid;

use crate::values::{Email, Name, Phone, UserId, ValueError};

/// `individual` or `corporation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    Individual,
    Corporation,
}

impl AccountType {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "individual" => Ok(AccountType::Individual),
            "corporation" => Ok(AccountType::Corporation),
            _ => Err(ValueError::NotInList("individual, corporation".into())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Individual => "individual",
            AccountType::Corporation => "corporation",
        }
    }

    /// What a new user of this type must still prove (CONTRACT §4): corporations
    /// have no sms step.
    pub fn initial_requirements(self) -> Requirements {
        Requirements {
            email: true,
            sms: self == AccountType::Individual,
        }
    }
}

/// `Client` or `Advisor`; any case in, capitalised out (the vendor's casing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRole {
    Client,
    Advisor,
}

impl AccountRole {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "client" => Ok(AccountRole::Client),
            "advisor" => Ok(AccountRole::Advisor),
            _ => Err(ValueError::NotInList("client, advisor".into())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Client => "Client",
            AccountRole::Advisor => "Advisor",
        }
    }
}

/// Verification status (CONTRACT §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Verified,
    Unsupported,
}

impl Status {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PENDING" => Ok(Status::Pending),
            "VERIFIED" => Ok(Status::Verified),
            "UNSUPPORTED" => Ok(Status::Unsupported),
            _ => Err(ValueError::NotInList(
                "pending, verified, unsupported".into(),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Verified => "VERIFIED",
            Status::Unsupported => "UNSUPPORTED",
        }
    }
}

/// The fields of the list shape (CONTRACT §2, the vendor's *Get Multiple End Users*).
#[derive(Debug, Clone, PartialEq)]
pub struct UserSummary {
    pub account_type: AccountType,
    pub account_role: AccountRole,
    pub user_id: UserId,
    pub advisor_user_id: Option<UserId>,
    pub email: Email,
    pub first_name: Name,
    pub last_name: Name,
    pub phone_number: Phone,
    pub status: Status,
    pub requirements: Requirements,
}

impl UserSummary {
    /// Reads a list shape back from this server's own event snapshots (its
    /// values were checked when the user was registered).
    pub fn from_stored(w: EndUserSummary) -> Result<Self, ValueError> {
        Ok(UserSummary {
            account_type: AccountType::parse(&w.account_type)?,
            account_role: AccountRole::parse(&w.account_role)?,
            user_id: UserId::from_stored(w.user_id),
            advisor_user_id: w.advisor_user_id.map(UserId::from_stored),
            email: Email::from_stored(w.email),
            first_name: Name::from_stored(w.first_name),
            last_name: Name::from_stored(w.last_name),
            phone_number: Phone::from_stored(w.phone_number),
            status: Status::parse(&w.status)?,
            requirements: w.requirements,
        })
    }

    pub fn to_wire(&self) -> EndUserSummary {
        EndUserSummary {
            account_type: self.account_type.as_str().to_owned(),
            account_role: self.account_role.as_str().to_owned(),
            user_id: self.user_id.to_string(),
            advisor_user_id: self.advisor_user_id.as_ref().map(UserId::to_string),
            email: self.email.to_string(),
            first_name: self.first_name.to_string(),
            last_name: self.last_name.to_string(),
            phone_number: self.phone_number.to_string(),
            status: self.status.as_str().to_owned(),
            requirements: self.requirements,
        }
    }
}

/// A stored end user: the list fields, the server-made `id`, and the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub summary: UserSummary,
    pub id: Uuid,
    pub profile: Profile,
}

impl User {
    /// The full shape (CONTRACT §2, the vendor's *Get End User*).
    pub fn to_wire(&self) -> EndUser {
        let s = self.summary.to_wire();
        let p = self.profile.clone();
        EndUser {
            account_type: s.account_type,
            account_role: s.account_role,
            user_id: s.user_id,
            advisor_user_id: s.advisor_user_id,
            email: s.email,
            first_name: s.first_name,
            last_name: s.last_name,
            phone_number: s.phone_number,
            account_purpose: p.account_purpose,
            account_purpose_other: p.account_purpose_other,
            source_of_funds: p.source_of_funds,
            source_of_funds_other: p.source_of_funds_other,
            id: self.id.to_string(),
            phone_country_code: p.phone_country_code,
            intermediary_status: p.intermediary_status,
            expected_transfer_volume: p.expected_transfer_volume,
            expected_trade_volume: p.expected_trade_volume,
            individual: p.individual,
            business: p.business,
            beneficial_owners: p.beneficial_owners,
            status: s.status,
            requirements: s.requirements,
        }
    }
}
