//! The end user as the domain knows it, and its two wire shapes (CONTRACT §2).

use onboard_api::{EndUser, EndUserSummary, Profile, Requirements};
use uuid::Uuid;

use crate::values::ValueError;

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
    pub user_id: String,
    pub advisor_user_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub status: Status,
    pub requirements: Requirements,
}

impl UserSummary {
    /// Reads a list shape back (event snapshots are stored in it).
    pub fn from_wire(w: EndUserSummary) -> Result<Self, ValueError> {
        Ok(UserSummary {
            account_type: AccountType::parse(&w.account_type)?,
            account_role: AccountRole::parse(&w.account_role)?,
            user_id: w.user_id,
            advisor_user_id: w.advisor_user_id,
            email: w.email,
            first_name: w.first_name,
            last_name: w.last_name,
            phone_number: w.phone_number,
            status: Status::parse(&w.status)?,
            requirements: w.requirements,
        })
    }

    pub fn to_wire(&self) -> EndUserSummary {
        EndUserSummary {
            account_type: self.account_type.as_str().to_owned(),
            account_role: self.account_role.as_str().to_owned(),
            user_id: self.user_id.clone(),
            advisor_user_id: self.advisor_user_id.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            phone_number: self.phone_number.clone(),
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
        let s = &self.summary;
        let p = self.profile.clone();
        EndUser {
            account_type: s.account_type.as_str().to_owned(),
            account_role: s.account_role.as_str().to_owned(),
            user_id: s.user_id.clone(),
            advisor_user_id: s.advisor_user_id.clone(),
            email: s.email.clone(),
            first_name: s.first_name.clone(),
            last_name: s.last_name.clone(),
            phone_number: s.phone_number.clone(),
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
            status: s.status.as_str().to_owned(),
            requirements: s.requirements,
        }
    }
}
