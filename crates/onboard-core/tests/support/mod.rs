//! Shared by the validation table tests: the fixed `today`, valid baseline bodies,
//! path edits, and the table runner. Paths are written exactly as the server reports
//! them (`individual.dob`, `beneficial_owners[0].ssn`), so one string both edits the
//! body and names the field the problem must be reported under.

#![allow(dead_code)] // each test crate uses only part of this module

use std::collections::BTreeSet;

use onboard_api::FieldProblem;
use onboard_core::registration::Registration;
use serde_json::{Value, json};
use time::{Date, macros::date};

/// Age and past-date rules are checked against this day, never the real clock.
pub const TODAY: Date = date!(2026 - 06 - 15);

/// An individual like the vendor's read-back example (*Get End User*,
/// <https://docs.sfox.com/connect/rest-api/end-users/get-end-user>), as input.
pub fn individual() -> Value {
    json!({
        "account_type": "individual",
        "account_role": "Client",
        "user_id": "client_account_1",
        "email": "user_1_mail@address.com",
        "first_name": "Jane",
        "last_name": "Smith",
        "phone_country_code": "US",
        "phone_number": "+12243987754",
        "account_purpose": "investing",
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

/// One valid beneficial owner.
pub fn owner() -> Value {
    json!({
        "email": "owner@email.com",
        "first_name": "Benny",
        "middle_name": "S",
        "last_name": "Owner",
        "phone_number": "+12243927599",
        "dob": "1982-10-15",
        "ssn": "521-45-6789",
        "address_street1": "2322 Clover lane",
        "address_city": "Chicago",
        "address_subdivision": "IL",
        "address_country_code": "US",
        "address_postal_code": "60093",
        "id_type": "ssn",
        "id_country_code": "US"
    })
}

/// A corporation like the vendor's example, with `business` and one owner.
pub fn corporation() -> Value {
    json!({
        "account_type": "corporation",
        "account_role": "Client",
        "user_id": "corp_account_1",
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
            "registration_number": "12-3456789",
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
        "beneficial_owners": [owner()]
    })
}

/// One change to a baseline body: set a value, or remove the field.
pub struct Edit(String, Option<Value>);

pub fn set(path: impl Into<String>, value: impl Into<Value>) -> Edit {
    Edit(path.into(), Some(value.into()))
}

pub fn remove(path: impl Into<String>) -> Edit {
    Edit(path.into(), None)
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `beneficial_owners[0].dob` → `beneficial_owners`, `0`, `dob`.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        out.push(Step::Key(pieces.next().unwrap_or_default()));
        for index in pieces {
            let n = index
                .trim_end_matches(']')
                .parse()
                .expect("a numeric index");
            out.push(Step::Index(n));
        }
    }
    out
}

/// Applies the edits to a copy of `body`.
pub fn edited(mut body: Value, edits: Vec<Edit>) -> Value {
    for Edit(path, value) in edits {
        let mut steps = steps(&path);
        let last = steps.pop().expect("a non-empty path");
        let mut here = &mut body;
        for step in steps {
            here = match step {
                Step::Key(k) => here.get_mut(k),
                Step::Index(i) => here.get_mut(i),
            }
            .unwrap_or_else(|| panic!("{path}: no such place in the baseline"));
        }
        match (last, value) {
            (Step::Key(k), Some(v)) => {
                here.as_object_mut().expect("an object").insert(k.into(), v);
            }
            (Step::Key(k), None) => {
                here.as_object_mut().expect("an object").remove(k);
            }
            (Step::Index(i), Some(v)) => here.as_array_mut().expect("an array")[i] = v,
            (Step::Index(i), None) => {
                here.as_array_mut().expect("an array").remove(i);
            }
        }
    }
    body
}

pub fn parse(body: Value) -> Result<Registration, Vec<FieldProblem>> {
    Registration::parse(body, TODAY)
}

/// The problems of a body that must be refused.
pub fn problems(body: Value) -> Vec<FieldProblem> {
    match parse(body) {
        Ok(r) => panic!("accepted, expected problems: {r:?}"),
        Err(problems) => problems,
    }
}

pub fn fields(problems: &[FieldProblem]) -> BTreeSet<&str> {
    problems.iter().map(|p| p.field.as_str()).collect()
}

/// Parses a body that must be accepted.
pub fn accepted(body: Value) -> Registration {
    parse(body).unwrap_or_else(|problems| panic!("refused: {problems:?}"))
}

pub enum Expect {
    Accepted,
    /// Exactly one problem, under `field`, whose message contains `word`.
    Refused {
        field: String,
        word: &'static str,
    },
}

/// One row of a table: a name, edits to the baseline, and the verdict.
pub struct Case {
    name: String,
    edits: Vec<Edit>,
    expect: Expect,
}

impl Case {
    /// Applies `edits` to the baseline before the case's own edits.
    pub fn on(mut self, mut edits: Vec<Edit>) -> Case {
        edits.append(&mut self.edits);
        self.edits = edits;
        self
    }
}

/// The baseline with `edits` applied is accepted.
pub fn ok_with(name: &str, edits: Vec<Edit>) -> Case {
    Case {
        name: name.to_owned(),
        edits,
        expect: Expect::Accepted,
    }
}

/// Rows about one field: `at("individual.dob").bad("17", "2008-06-16", "18")`.
pub struct At(String);

pub fn at(path: impl Into<String>) -> At {
    At(path.into())
}

impl At {
    /// The field set to `value` is accepted.
    pub fn ok(&self, name: &str, value: impl Into<Value>) -> Case {
        ok_with(name, vec![set(self.0.clone(), value)])
    }

    /// The field set to `value` is refused, with one problem under this field.
    pub fn bad(&self, name: &str, value: impl Into<Value>, word: &'static str) -> Case {
        self.bad_with(name, vec![set(self.0.clone(), value)], word)
    }

    /// The baseline with `edits` applied is refused, with one problem under this field.
    pub fn bad_with(&self, name: &str, edits: Vec<Edit>, word: &'static str) -> Case {
        Case {
            name: name.to_owned(),
            edits,
            expect: Expect::Refused {
                field: self.0.clone(),
                word,
            },
        }
    }

    /// Removing the field is refused: it is required.
    pub fn required(&self) -> Case {
        let name = format!("no {}", self.0);
        self.bad_with(&name, vec![remove(self.0.clone())], "required")
    }
}

/// Runs every case against `baseline` and fails once, listing every failing case.
pub fn run(baseline: fn() -> Value, cases: Vec<Case>) {
    assert!(
        Registration::parse(baseline(), TODAY).is_ok(),
        "the baseline itself must be valid"
    );
    let mut failures = Vec::new();
    for case in cases {
        let outcome = Registration::parse(edited(baseline(), case.edits), TODAY);
        let failure = match (&case.expect, outcome) {
            (Expect::Accepted, Ok(_)) => None,
            (Expect::Accepted, Err(problems)) => Some(format!("refused: {problems:?}")),
            (Expect::Refused { .. }, Ok(_)) => Some("accepted".to_owned()),
            (Expect::Refused { field, word }, Err(problems)) => {
                let only_that_field = problems.len() == 1 && problems[0].field == *field;
                let says_why = problems
                    .iter()
                    .any(|p| p.message.to_lowercase().contains(&word.to_lowercase()));
                (!(only_that_field && says_why)).then(|| {
                    format!("expected one problem at {field} mentioning {word:?}, got {problems:?}")
                })
            }
        };
        if let Some(why) = failure {
            failures.push(format!("  - {}: {why}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
