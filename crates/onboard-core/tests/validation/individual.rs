//! Registration validation for individuals (CONTRACT §3), as tables: each row edits
//! one thing in a valid baseline body and expects it accepted, or refused with exactly
//! one problem under exactly that field's dotted path.

use crate::support::*;
use onboard_core::registration::{Registration, Rules};
use onboard_core::user::{AccountRole, AccountType};
use serde_json::{Value, json};
use uuid::Uuid;

#[test]
fn user_ids_are_1_to_128_of_letters_digits_and_a_few_marks() {
    let id = at("user_id");
    run(
        individual,
        vec![
            id.ok("one character", "a"),
            id.ok("128 characters", "a".repeat(128)),
            id.ok("every allowed mark", "Az09_-.:@x"),
            id.ok("an email-like id", "jane.smith@example.com"),
            id.bad("empty", "", "empty"),
            id.bad("129 characters", "a".repeat(129), "128"),
            id.bad("a space", "client 1", "only contain"),
            id.bad("a slash", "client/1", "only contain"),
            id.bad("a plus sign", "client+1", "only contain"),
            id.bad("a non-ASCII letter", "clïent", "only contain"),
            id.bad("a number", 42, "must be a string"),
            id.required(),
        ],
    );
}

#[test]
fn names_and_cities_are_trimmed_1_to_100_characters_with_a_letter() {
    let (first, last) = (at("first_name"), at("last_name"));
    let city = at("individual.residential_city");
    run(
        individual,
        vec![
            first.ok("surrounding spaces, trimmed", "  Jane  "),
            last.ok("apostrophe and hyphen", "O'Brien-Smith"),
            first.ok("non-ASCII letters", "Zoë"),
            last.ok("non-Latin letters", "李"),
            last.ok("100 characters", "x".repeat(100)),
            first.ok("100 once trimmed", format!(" {} ", "x".repeat(100))),
            first.bad("empty", "", "empty"),
            first.bad("only spaces", "   ", "empty"),
            first.bad("no letter", "1234", "letter"),
            last.bad("punctuation only", "-.-", "letter"),
            last.bad("101 characters", "x".repeat(101), "100"),
            first.bad("a control character", "Ja\u{7}ne", "printable"),
            last.required(),
            city.ok("a city", "Zürich"),
            city.bad("a city with no letter", "12345", "letter"),
            city.bad("a city of 101", "c".repeat(101), "100"),
            city.required(),
        ],
    );
}

#[test]
fn emails_are_bare_rfc_addresses_of_at_most_254_characters() {
    // 64 + 1 + 189 = 254 characters; one more label letter makes 255.
    let long = |last: usize| {
        let (a, b, c) = ("a".repeat(64), "b".repeat(63), "c".repeat(63));
        format!("{a}@{b}.{c}.{}.com", "d".repeat(last))
    };
    let email = at("email");
    run(
        individual,
        vec![
            email.ok("plus tag and subdomain", "jane+tag@mail.example.co.uk"),
            email.ok("a hyphenated domain", "jane@my-address.com"),
            email.ok("254 characters", long(57)),
            email.bad("255 characters", long(58), "254"),
            email.bad("a leading space", " user@address.com", "spaces"),
            email.bad("a trailing space", "user@address.com ", "spaces"),
            email.bad("a display name", "Jane <jane@address.com>", "email"),
            email.bad("no TLD", "jane@localhost", "email"),
            email.bad("no at sign", "jane.address.com", "email"),
            email.bad("two at signs", "jane@@address.com", "email"),
            email.bad("a domain literal", "jane@[192.168.0.1]", "email"),
            email.bad("a dot at the end", "jane.@address.com", "email"),
            email.bad(
                "a local part of 65",
                format!("{}@x.com", "a".repeat(65)),
                "64",
            ),
            email.bad("an all-numeric TLD", "jane@example.123", "all-numeric"),
            email.bad("a dotted IP", "jane@123.45.67.89", "all-numeric"),
            email.bad("an underscore in the domain", "jane@mail_x.com", "hyphens"),
            email.bad("a non-ASCII local part", "jöhn@address.com", "ASCII"),
            email.bad("a non-ASCII domain", "jane@exämple.com", "ASCII"),
            email.bad("a number", 42, "must be a string"),
            email.required(),
        ],
    );
}

#[test]
fn phone_numbers_are_e164_of_a_possible_length_with_the_phone_country_calling_code() {
    let (phone, country) = (at("phone_number"), at("phone_country_code"));
    let in_gb = |number: &str| vec![set("phone_number", number), set("phone_country_code", "GB")];
    run(
        individual,
        vec![
            phone.ok("another valid US number", "+14155552671"),
            phone.ok(
                "the vendor's own example, an unassigned area code",
                "+12223334444",
            ),
            phone.ok(
                "an impossible area code of a possible length",
                "+11234567890",
            ),
            country.ok("a lower-case phone country", "us"),
            ok_with("a UK number, country GB", in_gb("+447400123456")),
            ok_with(
                "a Guernsey number, country GB (both +44)",
                in_gb("+447911123456"),
            ),
            ok_with(
                "a US number, country CA (both +1)",
                vec![set("phone_country_code", "CA")],
            ),
            phone.bad("spaces", "+1 224 398 7754", "E.164"),
            phone.bad("dashes", "+1-224-398-7754", "E.164"),
            phone.bad("no plus sign", "12243987754", "E.164"),
            phone.bad("a national number", "2243987754", "E.164"),
            phone.bad("too short", "+1224398", "valid"),
            phone.bad("too long", "+122439877541", "valid"),
            phone.bad("no such calling code", "+9991234567", "E.164"),
            phone.bad("a letter", "+1224398775A", "E.164"),
            phone.bad("an extension", "+12243987754;ext=1", "E.164"),
            phone.bad("a UK number, country US", "+447400123456", "+44"),
            country.bad("an unknown phone country", "XX", "3166"),
            phone.required(),
            country.required(),
        ],
    );
}

#[test]
fn strict_phone_rules_want_a_valid_number_of_that_very_country() {
    let strict = Rules {
        strict_phone_numbers: true,
    };
    let today = time::OffsetDateTime::now_utc().date();
    let parse =
        |edits: Vec<Edit>| Registration::parse_with(edited(individual(), edits), today, strict);
    assert!(parse(vec![]).is_ok());
    for (number, country, why) in [
        ("+12223334444", "US", "valid"),
        ("+11234567890", "US", "valid"),
        ("+447911123456", "GB", "GG"),
        ("+12243987754", "CA", "CA"),
    ] {
        let problems = parse(vec![
            set("phone_number", number),
            set("phone_country_code", country),
        ])
        .expect_err(number);
        assert_eq!(problems.len(), 1, "{number}: {problems:?}");
        assert_eq!(problems[0].field, "phone_number", "{number}");
        assert!(problems[0].message.contains(why), "{number}: {problems:?}");
    }
}

#[test]
fn countries_states_and_postal_codes_follow_iso_and_us_rules() {
    let (country, state) = (
        at("individual.residential_country_code"),
        at("individual.residential_state"),
    );
    let postal = at("individual.residential_postal_code");
    let abroad = |code: &str, state: Option<&str>, postal: &str| {
        let mut edits = vec![
            set("individual.residential_country_code", code),
            remove("individual.residential_state"),
            set("individual.residential_postal_code", postal),
            set("individual.id_type", "passport"),
            set("individual.id_number", "C01X00T47"),
            set("individual.id_country_code", code),
        ];
        edits.extend(state.map(|s| set("individual.residential_state", s)));
        edits
    };
    let de = |state: &str| abroad("DE", Some(state), "80331");
    let gb = |postal: &str| abroad("GB", None, postal);
    run(
        individual,
        vec![
            country.ok("a lower-case country", "us"),
            country.bad("an unknown country", "XX", "3166"),
            country.bad("an alpha-3 country", "USA", "3166"),
            country.bad("an empty country", "", "3166"),
            country.required(),
            state.ok("CA", "CA"),
            state.ok("a lower-case state", "ca"),
            state.ok("the District of Columbia", "DC"),
            state.bad("a spelled-out state", "California", "two-letter"),
            state.bad("an unknown state", "ZZ", "subdivision"),
            state.bad("a full ISO code", "US-CA", "two-letter"),
            state.required(),
            ok_with("DE with subdivision BY", de("BY")),
            ok_with("DE with subdivision DE-BY", de("DE-BY")),
            ok_with("DE with subdivision by", de("by")),
            ok_with("DE with no subdivision", abroad("DE", None, "80331")),
            state.bad_with("DE with subdivision XX", de("XX"), "subdivision"),
            state.bad_with("DE with a US state", de("CA"), "subdivision"),
            state.bad_with("DE with FR-BY", de("FR-BY"), "subdivision"),
            postal.ok("ZIP+4", "12345-6789"),
            postal.bad("a 4-digit ZIP", "1234", "ZIP"),
            postal.bad("a 6-digit ZIP", "123456", "ZIP"),
            postal.bad("a ZIP with a letter", "1234a", "ZIP"),
            postal.bad("a short plus-4", "12345-678", "ZIP"),
            postal.bad("a number", 60622, "must be a string"),
            postal.required(),
            ok_with("GB postcode SW1A 1AA", gb("SW1A 1AA")),
            ok_with("a 2-character postcode", gb("AB")),
            ok_with("a 10-character postcode", gb("1234567890")),
            postal.bad_with("a 1-character postcode", gb("1"), "2"),
            postal.bad_with("an 11-character postcode", gb("12345678901"), "10"),
            postal.bad_with("a postcode with #", gb("SW1A#1AA"), "letters and digits"),
        ],
    );
}

#[test]
fn addresses_are_at_most_80_characters_with_a_letter() {
    let address = at("individual.residential_address");
    run(
        individual,
        vec![
            address.ok("80 characters", format!("1 {}", "a".repeat(78))),
            address.bad("81 characters", format!("1 {}", "a".repeat(79)), "80"),
            address.bad("digits only", "12345", "letter"),
            address.bad("empty", "", "empty"),
            address.required(),
        ],
    );
}

#[test]
fn dates_of_birth_are_real_past_dates_of_people_aged_18_to_120() {
    let dob = at("individual.dob");
    run(
        individual,
        vec![
            dob.ok("exactly 18 today", "2008-06-15"),
            dob.ok("born on 29 February", "2000-02-29"),
            dob.ok("exactly 120 today", "1906-06-15"),
            dob.ok("120, turning 121 tomorrow", "1905-06-16"),
            dob.bad("17, turning 18 tomorrow", "2008-06-16", "18"),
            dob.bad("121 today", "1905-06-15", "120"),
            dob.bad("born today", "2026-06-15", "past"),
            dob.bad("born in the future", "2027-01-01", "past"),
            dob.bad("30 February", "1990-02-30", "calendar"),
            dob.bad("29 February, common year", "2001-02-29", "calendar"),
            dob.bad("month 13", "1990-13-01", "calendar"),
            dob.bad("a signed year", "+1990-01-31", "YYYY-MM-DD"),
            dob.bad("no zero padding", "1990-1-31", "YYYY-MM-DD"),
            dob.bad("day first", "31/01/1990", "YYYY-MM-DD"),
            dob.bad("a timestamp", "1990-01-31T00:00:00Z", "YYYY-MM-DD"),
            dob.bad("a number", 19900131, "must be a string"),
            dob.required(),
        ],
    );
}

#[test]
fn a_dob_that_makes_the_person_17_is_refused() {
    let problems = problems(edited(
        individual(),
        vec![set("individual.dob", "2009-01-01")],
    ));
    assert_eq!(fields(&problems), ["individual.dob"].into());
    assert!(problems[0].message.contains("17"), "{problems:?}");
}

#[test]
fn identity_documents_follow_their_type_and_residence() {
    let (kind, number) = (at("individual.id_type"), at("individual.id_number"));
    let issuer = at("individual.id_country_code");
    let in_gb = |id_type: &str, number: &str, issuer: &str| {
        vec![
            set("individual.residential_country_code", "GB"),
            remove("individual.residential_state"),
            set("individual.residential_postal_code", "SW1A 1AA"),
            set("individual.id_type", id_type),
            set("individual.id_number", number),
            set("individual.id_country_code", issuer),
        ]
    };
    let passport_from = |n: &str, issuer: &str| {
        vec![
            set("individual.id_type", "passport"),
            set("individual.id_number", n),
            set("individual.id_country_code", issuer),
        ]
    };
    let passport = |n: &str| passport_from(n, "US");
    run(
        individual,
        vec![
            kind.ok("ssn in upper case", "SSN"),
            kind.bad("an unknown type", "driver_license", "ssn, passport"),
            kind.required(),
            ok_with(
                "a GB resident, passport",
                in_gb("passport", "123456789", "GB"),
            ),
            kind.bad_with(
                "a GB resident, SSN",
                in_gb("ssn", "521-45-6789", "US"),
                "US",
            ),
            issuer.bad("an SSN issued by GB", "GB", "US"),
            issuer.bad("an unknown issuer", "XX", "3166"),
            issuer.required(),
            ok_with("a passport issued by GB", passport_from("X1234567", "GB")),
            number.ok("an SSN without dashes", "521456789"),
            number.bad("an SSN of 8 digits", "52145678", "9 digits"),
            number.bad("an SSN of 10 digits", "5214567890", "9 digits"),
            number.bad("misplaced dashes", "5214-5-6789", "9 digits"),
            number.bad("spaces", "521 45 6789", "9 digits"),
            number.bad("a letter", "521-45-678X", "9 digits"),
            number.bad("area 000", "000-45-6789", "not a valid SSN"),
            number.bad("area 666", "666-45-6789", "not a valid SSN"),
            number.bad("area 9xx", "912-45-6789", "not a valid SSN"),
            number.bad("group 00", "521-00-6789", "not a valid SSN"),
            number.bad("serial 0000", "521-45-0000", "not a valid SSN"),
            number.bad(
                "the advertising 123-45-6789",
                "123-45-6789",
                "not a valid SSN",
            ),
            number.bad(
                "the Woolworth 078-05-1120",
                "078-05-1120",
                "not a valid SSN",
            ),
            number.required(),
            ok_with("a passport of 5", passport("AB123")),
            ok_with("a passport of 20", passport("A1B2C3D4E5F6G7H8I9J0")),
            ok_with("a lower-case passport", passport("x1234567")),
            number.bad_with("a passport of 4", passport("AB12"), "5 to 20"),
            number.bad_with(
                "a passport of 21",
                passport("A1B2C3D4E5F6G7H8I9J0K"),
                "5 to 20",
            ),
            number.bad_with("a passport with a dash", passport("AB-12345"), "5 to 20"),
            number.bad_with("a passport with a space", passport("AB 12345"), "5 to 20"),
        ],
    );
}

#[test]
fn enumerations_match_in_any_case_and_refuse_unknown_values() {
    let purpose = at("account_purpose");
    let (source, intermediary) = (at("source_of_funds"), at("intermediary_status"));
    let (transfer, trade) = (at("expected_transfer_volume"), at("expected_trade_volume"));
    let (employment, industry) = (
        at("individual.employment_status"),
        at("individual.industry"),
    );
    let (occupation, title) = (at("individual.occupation"), at("individual.job_title"));
    let (role, kind) = (at("account_role"), at("account_type"));
    let unknown = "must be one of";
    run(
        individual,
        vec![
            purpose.ok("INVESTING", "INVESTING"),
            purpose.ok("Online Purchases", "Online Purchases"),
            purpose.ok("selling only", "selling only"),
            purpose.bad("corporate Arbitrage Trading", "Arbitrage Trading", unknown),
            purpose.bad("an unknown purpose", "savings", unknown),
            purpose.required(),
            source.ok("business_income", "business_income"),
            source.ok("CRYPTO", "CRYPTO"),
            source.ok("null", Value::Null),
            source.bad("lottery", "lottery", unknown),
            intermediary.ok("yes", "yes"),
            intermediary.ok("NO", "NO"),
            intermediary.bad("maybe", "maybe", "yes, no"),
            intermediary.bad("a boolean", true, "must be a string"),
            transfer.ok("1m_plus", "1m_plus"),
            trade.ok("0_10K", "0_10K"),
            trade.ok("250k_1m", "250k_1m"),
            transfer.bad("1m+", "1m+", unknown),
            trade.bad("10k", "10k", unknown),
            employment.ok("student", "student"),
            employment.ok("SELF_EMPLOYED", "SELF_EMPLOYED"),
            employment.bad("astronaut", "astronaut", unknown),
            industry.ok("mining_crypto", "mining_crypto"),
            industry.bad("crypto", "crypto", unknown),
            occupation.ok("Legal", "Legal"),
            occupation.bad("lawyer", "lawyer", unknown),
            title.ok("a job title", "Engineer"),
            title.bad("a job title of 101", "j".repeat(101), "100"),
            role.ok("client", "client"),
            role.ok("ADVISOR", "ADVISOR"),
            role.bad("admin", "admin", "client, advisor"),
            role.required(),
            kind.bad("trust", "trust", "individual, corporation"),
            kind.required(),
        ],
    );
}

#[test]
fn an_other_text_is_required_exactly_when_its_field_is_other() {
    let pair = |field: &'static str, value: &str, text: Option<&str>| {
        let mut edits = vec![set(field, value)];
        edits.extend(text.map(|t| set(format!("{field}_other"), t)));
        edits
    };
    let purpose = |value: &str, text: Option<&str>| pair("account_purpose", value, text);
    let source = |value: &str, text: Option<&str>| pair("source_of_funds", value, text);
    let (purpose_other, source_other) = (at("account_purpose_other"), at("source_of_funds_other"));
    run(
        individual,
        vec![
            ok_with("purpose Other with a text", purpose("Other", Some("Gifts"))),
            purpose_other.ok("purpose investing, text null", Value::Null),
            purpose_other.bad_with("purpose other, no text", purpose("other", None), "required"),
            purpose_other.bad_with("purpose other, blank", purpose("other", Some(" ")), "empty"),
            purpose_other.bad_with(
                "purpose investing, a text",
                purpose("investing", Some("x")),
                "absent",
            ),
            ok_with(
                "source OTHER with a text",
                source("OTHER", Some("Salary and investing")),
            ),
            source_other.bad_with("source other, no text", source("other", None), "required"),
            source_other.bad_with(
                "source salary, a text",
                source("salary", Some("x")),
                "absent",
            ),
            source_other.bad("a text without a source", "Salary", "absent"),
        ],
    );
}

#[test]
fn the_body_has_only_known_client_set_fields_of_the_right_json_types() {
    let unknown = "not a recognised field";
    let advisor = at("advisor_user_id");
    run(
        individual,
        vec![
            at("foo").bad("an unknown top-level field", "bar", unknown),
            at("individual.foo").bad("an unknown individual field", 1, unknown),
            at("last_nam").bad("a misspelt field", "Smith", unknown),
            at("id").bad(
                "the server's id",
                "e26bcdeb-6406-11f0-a8e5-12e9c04db554",
                "server",
            ),
            at("status").bad("a status", "VERIFIED", "server"),
            at("requirements").bad(
                "requirements",
                json!({"email": false, "sms": false}),
                "server",
            ),
            at("individual").bad("individual as a string", "Jane", "JSON object"),
            at("individual").required(),
            at("business").bad(
                "a business object",
                json!({"entity_name": "Acme"}),
                "corporations",
            ),
            at("beneficial_owners").bad("beneficial owners", json!([]), "corporations"),
            advisor.ok("a client with an advisor", "adv_1"),
            advisor.ok("a null advisor", Value::Null),
            advisor.bad("a malformed advisor id", "adv 1", "only contain"),
            advisor
                .bad("an advisor with an advisor", "adv_1", "advisor")
                .on(vec![set("account_role", "Advisor")]),
        ],
    );
}

#[test]
fn a_body_that_is_not_an_object_is_refused_as_a_whole() {
    let problems = problems(json!(["not", "an", "object"]));
    assert_eq!(fields(&problems), ["body"].into());
}

#[test]
fn a_request_with_many_errors_reports_every_one_at_once() {
    let body = edited(
        individual(),
        vec![
            set("user_id", "bad id!"),
            set("email", "Jane <jane@address.com>"),
            remove("first_name"),
            set("phone_number", "+1 224 398 7754"),
            set("account_purpose", "Arbitrage Trading"),
            set("intermediary_status", "maybe"),
            set("status", "VERIFIED"),
            set("foo", "bar"),
            set("individual.dob", "2010-01-01"),
            set("individual.residential_state", "California"),
            set("individual.id_number", "000-12-3456"),
            set("individual.bar", true),
        ],
    );
    let problems = problems(body);
    let expected = [
        "user_id",
        "email",
        "first_name",
        "phone_number",
        "account_purpose",
        "intermediary_status",
        "status",
        "foo",
        "individual.dob",
        "individual.residential_state",
        "individual.id_number",
        "individual.bar",
    ];
    assert_one_problem_each(&problems, &expected);
}

#[test]
fn read_back_lower_cases_enumerations_upper_cases_codes_and_masks_numbers() {
    let body = edited(
        individual(),
        vec![
            set("account_type", "INDIVIDUAL"),
            set("account_role", "client"),
            set("phone_country_code", "us"),
            set("account_purpose", "INVESTING"),
            set("source_of_funds", "Other"),
            set("source_of_funds_other", "Salary and investing"),
            set("intermediary_status", "No"),
            set("expected_transfer_volume", "10K_50K"),
            set("expected_trade_volume", "1M_PLUS"),
            set("individual.residential_country_code", "us"),
            set("individual.residential_state", "ca"),
            set("individual.id_type", "SSN"),
            set("individual.id_country_code", "us"),
            set("individual.employment_status", "Full_Time_Employee"),
            set("individual.industry", "FINANCIAL_SERVICES"),
            set("individual.occupation", "Legal"),
        ],
    );
    let r = accepted(body);
    assert_eq!(r.account_type, AccountType::Individual);
    assert_eq!(r.account_role, AccountRole::Client);
    let p = &r.profile;
    assert_eq!(p.account_purpose, "investing");
    assert_eq!(p.source_of_funds.as_deref(), Some("other"));
    assert_eq!(
        p.source_of_funds_other.as_deref(),
        Some("Salary and investing")
    );
    assert_eq!(p.intermediary_status.as_deref(), Some("no"));
    assert_eq!(p.expected_transfer_volume.as_deref(), Some("10k_50k"));
    assert_eq!(p.expected_trade_volume.as_deref(), Some("1m_plus"));
    assert_eq!(p.phone_country_code, "US");
    let i = p.individual.as_ref().expect("an individual");
    assert_eq!(i.residential_country_code, "US");
    assert_eq!(i.residential_state.as_deref(), Some("CA"));
    assert_eq!(i.id_type, "ssn");
    assert_eq!(i.id_number, "*****6789");
    assert_eq!(i.id_country_code, "US");
    assert_eq!(i.employment_status.as_deref(), Some("full_time_employee"));
    assert_eq!(i.industry.as_deref(), Some("financial_services"));
    assert_eq!(i.occupation.as_deref(), Some("legal"));
    assert!(
        !format!("{r:?}").contains("521456789"),
        "the full SSN leaked"
    );

    let wire = r.into_user(Uuid::nil()).to_wire();
    assert_eq!(wire.account_role, "Client");
    assert_eq!(wire.account_type, "individual");
    assert!(wire.business.is_none() && wire.beneficial_owners.is_none());
}

#[test]
fn a_passport_number_is_masked_to_its_last_four_characters() {
    let body = edited(
        individual(),
        vec![
            set("individual.id_type", "passport"),
            set("individual.id_number", "x1234567"),
        ],
    );
    let individual = accepted(body).profile.individual.expect("an individual");
    assert_eq!(individual.id_number, "*****4567");
}
