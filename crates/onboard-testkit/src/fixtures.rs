//! The vendor's example users (*Get End User*,
//! <https://docs.sfox.com/connect/rest-api/end-users/get-end-user>) as registration
//! bodies: the one copy that every suite and the bench start from, valid as they
//! stand, to be varied by each test.

use serde_json::{Value, json};

/// The vendor's individual (`client_account_1`) under `user_id`, as a registration:
/// mixed-case enumerations, an SSN written with dashes (123-45-6789 would be refused
/// as a known-invalid SSN, so 521-45-6789 keeps the vendor's `*****6789`).
pub fn individual(user_id: &str) -> Value {
    json!({
        "account_type": "individual",
        "account_role": "client",
        "user_id": user_id,
        "email": "user_1_mail@address.com",
        "first_name": "Jane",
        "last_name": "Smith",
        "phone_country_code": "US",
        "phone_number": "+12243987754",
        "account_purpose": "Investing",
        "source_of_funds": "Other",
        "source_of_funds_other": "Salary and investing",
        "individual": {
            "dob": "1980-01-01",
            "residential_country_code": "US",
            "residential_address": "123 Main St",
            "residential_city": "San Francisco",
            "residential_state": "CA",
            "residential_postal_code": "60622",
            "id_type": "ssn",
            "id_number": "521-45-6789",
            "id_country_code": "US"
        }
    })
}

/// An individual advisor.
pub fn advisor(user_id: &str) -> Value {
    let mut body = individual(user_id);
    body["account_role"] = json!("Advisor");
    body
}

/// An individual client of `advisor`.
pub fn client_of(user_id: &str, advisor: &str) -> Value {
    let mut body = individual(user_id);
    body["advisor_user_id"] = json!(advisor);
    body
}

/// The vendor's corporation (`corp_account_1`) under `user_id`, as a registration,
/// with the vendor's one beneficial owner.
pub fn corporation(user_id: &str) -> Value {
    json!({
        "account_type": "corporation",
        "account_role": "Client",
        "user_id": user_id,
        "email": "corp10@address.com",
        "first_name": "Jane",
        "last_name": "Smith",
        "phone_country_code": "US",
        "phone_number": "+12243927599",
        "account_purpose": "Arbitrage Trading",
        "business": {
            "entity_name": "Hedge Fund Alpha",
            "incorporation_country": "US",
            "incorporation_state": "WY",
            "organization_type": "LLC",
            "business_type": "Fund Administrator",
            "registration_number": "WY-2012-556789",
            "website": null,
            "description": "crypto fund",
            "incorporation_date": "2012-11-15",
            "accredited_investor": true,
            "non_agent_intermediary": false,
            "principal_place_country": "US",
            "principal_place_state": "CA",
            "principal_place_address": "1234 Flower Street",
            "principal_place_city": "Los Angeles",
            "principal_place_postal_code": "90403"
        },
        "beneficial_owners": [beneficial_owner()]
    })
}

/// The vendor's beneficial owner, who identifies with a passport.
pub fn beneficial_owner() -> Value {
    json!({
        "email": "owner@email.com",
        "first_name": "Benny",
        "middle_name": "S",
        "last_name": "Owner",
        "phone_number": "+13125559988",
        "dob": "1982-10-15",
        "ssn": "P01556789",
        "address_street1": "2322 Clover lane",
        "address_city": "Chicago",
        "address_subdivision": "IL",
        "address_country_code": "US",
        "address_postal_code": "60093",
        "id_type": "passport",
        "id_country_code": "US"
    })
}

/// The vendor's beneficial owner identifying with a US SSN instead, reachable at
/// the corporation's phone number.
pub fn owner_with_ssn() -> Value {
    let mut owner = beneficial_owner();
    owner["phone_number"] = json!("+12243927599");
    owner["ssn"] = json!("521-45-6789");
    owner["id_type"] = json!("ssn");
    owner
}
