//! Valid registration bodies modelled on the vendor's examples (*Get End User*,
//! <https://docs.sfox.com/connect/rest-api/end-users/get-end-user>).

use serde_json::{Value, json};

pub use onboard_testkit::fixtures::individual;

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

/// The vendor's corporation (`corp_account_1`) as a registration, with one beneficial
/// owner who identifies with a passport.
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
        "beneficial_owners": [{
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
        }]
    })
}
