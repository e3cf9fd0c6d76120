//! Shared by the validation table tests: the fixed `today`, valid baseline bodies,
//! path edits, and the table runner. Paths are written exactly as the server reports
//! them (`individual.dob`, `beneficial_owners[0].ssn`), so one string both edits the
//! body and names the field the problem must be reported under.

use std::collections::BTreeSet;

use onboard_api::FieldProblem;
use onboard_core::registration::Registration;
use onboard_testkit::fixtures;
use serde_json::{Value, json};
use time::{Date, macros::date};

/// Age and past-date rules are checked against this day, never the real clock.
pub const TODAY: Date = date!(2026 - 06 - 15);

/// The vendor's individual (*Get End User*), as the tables' baseline: without a
/// source of funds, which the tables set themselves.
pub fn individual() -> Value {
    edited(
        fixtures::individual("client_account_1"),
        vec![
            set("account_role", "Client"),
            set("account_purpose", "investing"),
            remove("source_of_funds"),
            remove("source_of_funds_other"),
        ],
    )
}

/// One valid beneficial owner, identified by an SSN.
pub fn owner() -> Value {
    fixtures::owner_with_ssn()
}

/// The vendor's corporation, with `business` and one owner identified by an SSN.
pub fn corporation() -> Value {
    edited(
        fixtures::corporation("corp_account_1"),
        vec![
            set("business.registration_number", "12-3456789"),
            set("beneficial_owners", json!([owner()])),
        ],
    )
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

/// Exactly one problem under each of `expected`, and none elsewhere.
pub fn assert_one_problem_each(problems: &[FieldProblem], expected: &[&str]) {
    assert_eq!(fields(problems), expected.iter().copied().collect());
    assert_eq!(
        problems.len(),
        expected.len(),
        "one problem each: {problems:?}"
    );
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
