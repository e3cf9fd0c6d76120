//! Request bodies shared by the suites: the vendor's example users, valid as they
//! stand, to be varied by each test.

use serde_json::{Value, json};

/// The vendor's individual (*Get End User*, `client_account_1`) under `user_id`, as a
/// registration: mixed-case enumerations, an SSN written with dashes (123-45-6789
/// would be refused as a known-invalid SSN, so 521-45-6789 keeps the vendor's
/// `*****6789`).
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
