//! Registration validation for corporations (CONTRACT §3): the `business` object, the
//! 1–25 beneficial owners (each validated like an individual), and the corporate
//! purposes. Same table style as `individual.rs`.

use crate::support::*;
use onboard_core::user::{AccountRole, AccountType};
use serde_json::{Value, json};
use uuid::Uuid;

fn owners(n: usize) -> Value {
    Value::Array(vec![owner(); n])
}

#[test]
fn corporations_need_a_business_and_1_to_25_beneficial_owners() {
    let (list, business) = (at("beneficial_owners"), at("business"));
    let purpose = at("account_purpose");
    let with_other = vec![
        set("account_purpose", "Other"),
        set("account_purpose_other", "Payroll"),
    ];
    run(
        corporation,
        vec![
            list.ok("25 owners", owners(25)),
            list.ok("two owners", owners(2)),
            list.bad("no owners", owners(0), "1 to 25"),
            list.bad("26 owners", owners(26), "1 to 25"),
            list.bad("owners as an object", owner(), "array"),
            list.required(),
            at("beneficial_owners[0]").bad("an owner as a string", "Benny", "JSON object"),
            business.bad("business as an array", json!([]), "JSON object"),
            business.required(),
            at("individual").bad("an individual object", json!({}), "only for individuals"),
            purpose.ok("arbitrage trading", "arbitrage trading"),
            purpose.ok("TREASURY MANAGEMENT", "TREASURY MANAGEMENT"),
            purpose.ok("Cross Border Payments", "Cross Border Payments"),
            purpose.ok("liquidating crypto assets", "liquidating crypto assets"),
            ok_with("purpose Other with a text", with_other),
            at("account_purpose_other").bad_with(
                "purpose other, no text",
                vec![set("account_purpose", "other")],
                "required",
            ),
            purpose.bad("the individual Investing", "Investing", "must be one of"),
            purpose.bad("the individual Business", "Business", "must be one of"),
            at("account_role").ok("an advisor corporation", "Advisor"),
            at("advisor_user_id")
                .bad("an advisor with an advisor", "adv_1", "advisor")
                .on(vec![set("account_role", "advisor")]),
            at("beneficial_owner").bad(
                "a misspelt owners field",
                json!([]),
                "not a recognised field",
            ),
        ],
    );
}

#[test]
fn business_fields_follow_their_rules() {
    let b = |field: &str| at(format!("business.{field}"));
    let (website, number) = (b("website"), b("registration_number"));
    let (date, flag) = (b("incorporation_date"), b("accredited_investor"));
    let principal_in_gb = |postal: &str| {
        vec![
            set("business.principal_place_country", "GB"),
            remove("business.principal_place_state"),
            set("business.principal_place_postal_code", postal),
        ]
    };
    run(
        corporation,
        vec![
            website.ok("https", "https://example.com"),
            website.ok("http with a path", "http://example.com/about?x=1"),
            website.bad("ftp", "ftp://example.com", "http"),
            website.bad("no scheme", "example.com", "http"),
            website.bad("no host", "https://", "host"),
            website.bad("a space in the host", "https://exa mple.com", "host"),
            website.bad("javascript:", "javascript:alert(1)", "http"),
            number.ok("with a space", "HRB 12345"),
            number.ok("with / and .", "C/123.45"),
            number.ok("50 characters", "7".repeat(50)),
            number.bad("4 digits", "1234", "5 to 50"),
            number.bad("4 alphanumerics among dashes", "12-3-4--", "5 to 50"),
            number.bad("a dollar sign", "AB$12345", "5 to 50"),
            number.bad("51 characters", "7".repeat(51), "5 to 50"),
            number.bad("a JSON number", 123456789, "must be a string"),
            number.required(),
            b("organization_type").ok("organization type of 100", "o".repeat(100)),
            b("organization_type").bad("organization type of 101", "o".repeat(101), "100"),
            b("business_type").bad("an empty business type", "", "empty"),
            b("description").ok("a description of 500", "d".repeat(500)),
            b("description").bad("a description of 501", "d".repeat(501), "500"),
            b("description").ok("no description", Value::Null),
            ok_with(
                "no accredited_investor flag",
                vec![remove("business.accredited_investor")],
            ),
            flag.bad("accredited_investor as a string", "yes", "true or false"),
            b("non_agent_intermediary").bad("non_agent_intermediary as 1", 1, "true or false"),
            date.ok("incorporated today", "2026-06-15"),
            date.bad("incorporated tomorrow", "2026-06-16", "future"),
            date.bad("incorporated 30 February", "2012-02-30", "calendar"),
            date.bad("a signed year", "+2012-11-15", "YYYY-MM-DD"),
            date.bad("before 1600", "1599-12-31", "1600"),
            date.required(),
            b("incorporation_country").ok("a lower-case country", "us"),
            b("incorporation_country").bad("country XX", "XX", "3166"),
            b("incorporation_state").bad("state Wyoming", "Wyoming", "two-letter"),
            b("incorporation_state").required(),
            b("principal_place_state").bad("principal state ZZ", "ZZ", "subdivision"),
            b("principal_place_postal_code").bad("a 4-digit ZIP", "9040", "ZIP"),
            b("principal_place_address").bad("an address with no letter", "1234", "letter"),
            b("principal_place_city").bad("an empty city", "", "empty"),
            b("entity_name").bad("an entity name with no letter", "123", "letter"),
            b("entity_name").required(),
            ok_with("a principal place in GB", principal_in_gb("EC1A 1BB")),
            b("principal_place_postal_code").bad_with(
                "a 1-character postcode",
                principal_in_gb("E"),
                "2",
            ),
            b("foo").bad("an unknown business field", "bar", "not a recognised field"),
        ],
    );
}

#[test]
fn each_beneficial_owner_is_validated_like_an_individual() {
    let o = |field: &str| at(format!("beneficial_owners[0].{field}"));
    let (dob, ssn, phone, email) = (o("dob"), o("ssn"), o("phone_number"), o("email"));
    let document = |id_type: &str, number: &str, issuer: &str| {
        vec![
            set("beneficial_owners[0].id_type", id_type),
            set("beneficial_owners[0].ssn", number),
            set("beneficial_owners[0].id_country_code", issuer),
        ]
    };
    let in_de = |id_type: &str, number: &str| {
        let mut edits = vec![
            set("beneficial_owners[0].address_country_code", "DE"),
            set("beneficial_owners[0].address_subdivision", "BY"),
            set("beneficial_owners[0].address_postal_code", "80331"),
        ];
        edits.extend(document(id_type, number, "US"));
        edits
    };
    let second_owner_born = |date: &str| {
        vec![
            set("beneficial_owners", owners(2)),
            set("beneficial_owners[1].dob", date),
        ]
    };
    run(
        corporation,
        vec![
            dob.bad("17 years old", "2009-01-01", "18"),
            dob.bad("born 30 February", "1982-02-30", "calendar"),
            dob.bad("born in the future", "2030-01-01", "past"),
            dob.bad("121 years old", "1905-06-15", "120"),
            dob.required(),
            at("beneficial_owners[1].dob").bad_with(
                "the second owner 6",
                second_owner_born("2020-01-01"),
                "18",
            ),
            ssn.ok("an SSN without dashes", "521456789"),
            ssn.bad("the advertising SSN", "123-45-6789", "not a valid SSN"),
            ssn.bad("an SSN of 8 digits", "52145678", "9 digits"),
            ssn.required(),
            ok_with("a passport", document("passport", "X1234567", "GB")),
            ssn.bad_with(
                "a passport of 4",
                document("passport", "X123", "GB"),
                "5 to 20",
            ),
            ok_with(
                "a DE resident with a passport",
                in_de("passport", "C01X00T47"),
            ),
            o("id_type").bad_with(
                "a DE resident with an SSN",
                in_de("ssn", "521-45-6789"),
                "US",
            ),
            o("id_country_code").bad("an SSN issued by GB", "GB", "US"),
            phone.ok("a UK phone", "+447400123456"),
            phone.bad("the seed's national number", "5559998888", "E.164"),
            phone.bad("spaces", "+1 224 392 7599", "E.164"),
            phone.required(),
            email.bad("a display name", "Benny <owner@email.com>", "email"),
            email.bad("a leading space", " owner@email.com", "spaces"),
            email.bad("an all-numeric TLD", "owner@email.123", "all-numeric"),
            email.required(),
            o("first_name").bad("an empty first name", "", "empty"),
            ok_with(
                "no middle name",
                vec![remove("beneficial_owners[0].middle_name")],
            ),
            o("middle_name").bad("a middle name with no letter", "1", "letter"),
            o("address_street1").bad("a street of 81", format!("1 {}", "a".repeat(79)), "80"),
            o("address_city").bad("a city with no letter", "60093", "letter"),
            o("address_subdivision").bad("a spelled-out state", "Illinois", "two-letter"),
            o("address_subdivision").required(),
            o("address_postal_code").bad("a 4-digit ZIP", "6009", "ZIP"),
            o("address_country_code").bad("an unknown country", "XX", "3166"),
            o("industry").ok("an industry", "Financial_Services"),
            o("industry").bad("an unknown industry", "crypto", "must be one of"),
            o("occupation").bad("an unknown occupation", "lawyer", "must be one of"),
            o("employment_status").bad("an unknown employment", "busy", "must be one of"),
            o("job_title").bad("a job title of 101", "j".repeat(101), "100"),
            o("id").bad(
                "an owner id",
                "207a6d5a-d47b-11f0-a8e5-12e9c04dbb50",
                "server",
            ),
            o("foo").bad("an unknown owner field", 1, "not a recognised field"),
        ],
    );
}

#[test]
fn a_corporate_request_with_many_errors_reports_every_one_at_once() {
    let body = edited(
        corporation(),
        vec![
            set("email", " corp10@address.com"),
            set("account_purpose", "Investing"),
            set("business.website", "ftp://example.com"),
            set("business.registration_number", "1"),
            set("business.incorporation_state", "Wyoming"),
            set("beneficial_owners", owners(2)),
            set("beneficial_owners[0].dob", "2020-01-01"),
            set("beneficial_owners[0].extra", true),
            set("beneficial_owners[1].ssn", "000-00-0000"),
            set("beneficial_owners[1].phone_number", "5559998888"),
        ],
    );
    let problems = problems(body);
    let expected = [
        "email",
        "account_purpose",
        "business.website",
        "business.registration_number",
        "business.incorporation_state",
        "beneficial_owners[0].dob",
        "beneficial_owners[0].extra",
        "beneficial_owners[1].ssn",
        "beneficial_owners[1].phone_number",
    ];
    assert_one_problem_each(&problems, &expected);
}

#[test]
fn corporate_read_back_lower_cases_enumerations_and_masks_every_number() {
    let body = edited(
        corporation(),
        vec![
            set("account_type", "Corporation"),
            set("account_role", "ADVISOR"),
            set("business.incorporation_country", "us"),
            set("business.website", "https://example.com"),
            set("beneficial_owners", owners(2)),
            set("beneficial_owners[1].id_type", "PASSPORT"),
            set("beneficial_owners[1].ssn", "x1234567"),
            set("beneficial_owners[1].id_country_code", "gb"),
            set("beneficial_owners[1].industry", "MINING_CRYPTO"),
        ],
    );
    let r = accepted(body);
    assert_eq!(r.account_type, AccountType::Corporation);
    assert_eq!(r.account_role, AccountRole::Advisor);
    assert_eq!(r.profile.account_purpose, "arbitrage trading");
    assert!(r.profile.individual.is_none());
    let business = r.profile.business.as_ref().expect("a business");
    assert_eq!(business.registration_number, "*****6789");
    assert_eq!(business.incorporation_country, "US");
    assert_eq!(business.website.as_deref(), Some("https://example.com"));
    assert!(business.accredited_investor && !business.non_agent_intermediary);
    let owners = r.profile.beneficial_owners.as_ref().expect("owners");
    assert_eq!(owners[0].ssn, "*****6789");
    assert_eq!(owners[1].ssn, "*****4567");
    assert_eq!(owners[1].id_type, "passport");
    assert_eq!(owners[1].id_country_code, "GB");
    assert_eq!(owners[1].industry.as_deref(), Some("mining_crypto"));
    assert!(owners.iter().all(|o| Uuid::parse_str(&o.id).is_ok()));
    assert_ne!(owners[0].id, owners[1].id, "each owner gets its own id");
    let debug = format!("{r:?}");
    assert!(
        !debug.contains("521456789") && !debug.contains("3456789\""),
        "a number leaked"
    );

    let wire = r.into_user(Uuid::nil()).to_wire();
    assert_eq!(
        (wire.account_type.as_str(), wire.account_role.as_str()),
        ("corporation", "Advisor")
    );
}
