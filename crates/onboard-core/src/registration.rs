//! `POST /v1/enterprise/register-account`: from an untyped body to a [`Registration`]
//! (CONTRACT §3). Every rule is applied and every violation reported, each under the
//! dotted path of its field; a `Registration` exists only when there were none.

use onboard_api::{BeneficialOwner, Business, FieldProblem, Individual, Profile};
use serde_json::Value;
use time::Date;
use uuid::Uuid;

use crate::identity::{
    IdNumber, IdType, format_date, parse_dob, parse_past_date, parse_registration_number,
};
use crate::reader::{Obj, Problems};
use crate::user::{AccountRole, AccountType, Status, User, UserSummary};
use crate::values::{
    Address, Country, Email, Name, Phone, PostalCode, Subdivision, Text, UserId, ValueError,
    Website, calling_code,
};
use crate::vocab::{self, Term, Vocabulary};

/// The most beneficial owners one corporation may list.
pub const MAX_BENEFICIAL_OWNERS: usize = 25;

/// A registration request that passed every rule of CONTRACT §3.
#[derive(Debug, Clone)]
pub struct Registration {
    pub user_id: UserId,
    pub account_type: AccountType,
    pub account_role: AccountRole,
    pub advisor_user_id: Option<UserId>,
    pub email: Email,
    pub first_name: Name,
    pub last_name: Name,
    pub phone_number: Phone,
    pub profile: Profile,
}

/// Rules an operator may tighten (`[validation]` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// Phone numbers must be *valid* numbers of their country, not only of a
    /// possible length (CONTRACT §3).
    pub strict_phone_numbers: bool,
}

impl Registration {
    /// Reads a request body under the default rules; `today` anchors the age and
    /// past-date rules.
    pub fn parse(body: Value, today: Date) -> Result<Registration, Vec<FieldProblem>> {
        Self::parse_with(body, today, Rules::default())
    }

    /// Reads a request body under `rules`.
    pub fn parse_with(
        body: Value,
        today: Date,
        rules: Rules,
    ) -> Result<Registration, Vec<FieldProblem>> {
        let problems = Problems::default();
        let registration = Obj::new(body, "", &problems).and_then(|o| read_top(o, today, rules));
        match registration {
            Some(r) if problems.is_empty() => Ok(r),
            _ => Err(problems.into_vec()),
        }
    }

    /// The new user this registration creates, `PENDING` with every requirement open.
    pub fn into_user(self, id: Uuid) -> User {
        User {
            summary: UserSummary {
                account_type: self.account_type,
                account_role: self.account_role,
                user_id: self.user_id,
                advisor_user_id: self.advisor_user_id,
                email: self.email,
                first_name: self.first_name,
                last_name: self.last_name,
                phone_number: self.phone_number,
                status: Status::Pending,
                requirements: self.account_type.initial_requirements(),
            },
            id,
            profile: self.profile,
        }
    }
}

fn text(max: usize) -> impl Fn(&str) -> Result<String, ValueError> {
    move |t| Text::parse(t, max).map(Text::into_string)
}

fn term(vocabulary: &'static Vocabulary) -> impl Fn(&str) -> Result<Term, ValueError> {
    move |t| vocabulary.parse(t)
}

/// Fields the server sets; sending them is a mistake worth naming precisely.
fn refuse_server_fields(o: &mut Obj, names: &[&str]) {
    for name in names {
        if o.take(name).is_some() {
            o.report(name, "is set by the server and cannot be sent");
        }
    }
}

fn read_top(mut o: Obj, today: Date, rules: Rules) -> Option<Registration> {
    refuse_server_fields(&mut o, &["id", "status", "requirements"]);
    let account_type = o.req("account_type", AccountType::parse);
    let account_role = o.req("account_role", AccountRole::parse);
    let user_id = o.req("user_id", UserId::parse);
    let advisor_user_id = o.opt("advisor_user_id", UserId::parse);
    let email = o.req("email", Email::parse);
    let first_name = o.req("first_name", Name::parse);
    let last_name = o.req("last_name", Name::parse);
    let phone_country = o.req("phone_country_code", Country::parse);
    let phone_number = o.req("phone_number", |t| {
        Phone::parse_with(t, rules.strict_phone_numbers)
    });
    check_phone_region(&o, phone_number.as_ref(), phone_country.as_ref(), rules);
    if account_role == Some(AccountRole::Advisor) && matches!(advisor_user_id, Some(Some(_))) {
        o.report(
            "advisor_user_id",
            "must be absent for an advisor: advisors have no advisor",
        );
    }
    let purposes = match account_type {
        Some(AccountType::Corporation) => Some(&vocab::CORPORATE_PURPOSE),
        Some(AccountType::Individual) => Some(&vocab::INDIVIDUAL_PURPOSE),
        None => None,
    };
    let (account_purpose, account_purpose_other) = match purposes {
        Some(v) => read_with_other(&mut o, "account_purpose", true, v),
        None => {
            // Which list applies depends on the (invalid) account_type; say only
            // what is certain: the field is required.
            if o.take("account_purpose").is_none() {
                o.report("account_purpose", "is required");
            }
            o.take("account_purpose_other");
            (None, None)
        }
    };
    let (source_of_funds, source_of_funds_other) =
        read_with_other(&mut o, "source_of_funds", false, &vocab::SOURCE_OF_FUNDS);
    let intermediary_status = o.opt("intermediary_status", term(&vocab::INTERMEDIARY_STATUS));
    let transfer = o.opt("expected_transfer_volume", term(&vocab::VOLUME_BAND));
    let trade = o.opt("expected_trade_volume", term(&vocab::VOLUME_BAND));
    let kind = read_kind(&mut o, account_type, today, rules);
    o.finish();

    let name_of = |t: Option<Term>| t.map(|t| t.as_str().to_owned());
    let (individual, business, beneficial_owners) = kind?;
    Some(Registration {
        user_id: user_id?,
        account_type: account_type?,
        account_role: account_role?,
        advisor_user_id: advisor_user_id?,
        email: email?,
        first_name: first_name?,
        last_name: last_name?,
        phone_number: phone_number?,
        profile: Profile {
            account_purpose: account_purpose??.as_str().to_owned(),
            account_purpose_other: account_purpose_other?,
            source_of_funds: name_of(source_of_funds?),
            source_of_funds_other: source_of_funds_other?,
            phone_country_code: phone_country?.into_string(),
            intermediary_status: name_of(intermediary_status?),
            expected_transfer_volume: name_of(transfer?),
            expected_trade_volume: name_of(trade?),
            individual,
            business,
            beneficial_owners,
        },
    })
}

/// The number must use the calling code of `phone_country_code`; under strict
/// rules it must also be a number of that very country (`+1` is shared by the US,
/// Canada and much of the Caribbean).
fn check_phone_region(o: &Obj, phone: Option<&Phone>, country: Option<&Country>, rules: Rules) {
    let (Some(phone), Some(country)) = (phone, country) else {
        return;
    };
    if !rules.strict_phone_numbers {
        match calling_code(country) {
            Some(code) if code == phone.calling_code() => {}
            Some(code) => o.report(
                "phone_number",
                format!(
                    "has calling code +{}, but phone_country_code {country} uses +{code}",
                    phone.calling_code()
                ),
            ),
            None => o.report(
                "phone_country_code",
                format!("{country} has no telephone calling code"),
            ),
        }
        return;
    }
    match phone.region() {
        Some(region) if region == country.as_str() => {}
        Some(region) => o.report(
            "phone_number",
            format!("belongs to {region}, but phone_country_code is {country}"),
        ),
        None => o.report(
            "phone_number",
            format!("is not a number of phone_country_code {country}"),
        ),
    }
}

type WithOther = (Option<Option<Term>>, Option<Option<String>>);

/// A vocabulary field and its `*_other` text, which is required exactly when the
/// field is `other` and must otherwise be absent or null.
fn read_with_other(o: &mut Obj, name: &str, required: bool, v: &'static Vocabulary) -> WithOther {
    let value = if required {
        o.req(name, term(v)).map(Some)
    } else {
        o.opt(name, term(v))
    };
    let other_name = format!("{name}_other");
    let other = o.opt(&other_name, text(200));
    let is_other = matches!(value, Some(Some(t)) if t.is_other());
    match (&value, &other) {
        (Some(_), Some(None)) if is_other => {
            o.report(&other_name, format!("is required when {name} is other"));
        }
        (Some(_), Some(Some(_))) if !is_other => {
            o.report(
                &other_name,
                format!("must be absent unless {name} is other"),
            );
        }
        _ => {}
    }
    (value, other)
}

type Kind = (
    Option<Individual>,
    Option<Business>,
    Option<Vec<BeneficialOwner>>,
);

/// `individual` for individuals; `business` and `beneficial_owners` for corporations.
fn read_kind(
    o: &mut Obj,
    account_type: Option<AccountType>,
    today: Date,
    rules: Rules,
) -> Option<Kind> {
    let individual = o.take("individual");
    let business = o.take("business");
    let owners = o.take("beneficial_owners");
    match account_type? {
        AccountType::Individual => {
            for (name, given) in [("business", &business), ("beneficial_owners", &owners)] {
                if given.is_some() {
                    o.report(name, "is only for corporations");
                }
            }
            let individual = required(o, "individual", individual, "individuals")?;
            Some((read_individual(o, individual, today), None, None))
        }
        AccountType::Corporation => {
            if individual.is_some() {
                o.report("individual", "is only for individuals");
            }
            let business = required(o, "business", business, "corporations")
                .and_then(|b| read_business(o, b, today));
            let owners = required(o, "beneficial_owners", owners, "corporations")
                .and_then(|b| read_owners(o, b, today, rules));
            Some((None, Some(business?), Some(owners?)))
        }
    }
}

fn required(o: &Obj, name: &str, value: Option<Value>, who: &str) -> Option<Value> {
    if value.is_none() {
        o.report(name, format!("is required for {who}"));
    }
    value
}

/// A subdivision field: required for `US`, optional elsewhere, checked against the
/// country read just before it (skipped when that country was itself invalid).
fn read_state(o: &mut Obj, name: &str, country: Option<&Country>) -> Option<Option<String>> {
    let Some(country) = country else {
        o.take(name);
        return None;
    };
    let state = o.opt(name, |t| Subdivision::parse(country, t))?;
    if state.is_none() && country.is_us() {
        o.report(name, "is required when the country is US");
        return None;
    }
    Some(state.map(Subdivision::into_string))
}

fn read_postal(o: &mut Obj, name: &str, country: Option<&Country>) -> Option<String> {
    match country {
        Some(c) => o
            .req(name, |t| PostalCode::parse(c, t))
            .map(PostalCode::into_string),
        None => {
            o.take(name);
            None
        }
    }
}

/// `id_type`, the number field it governs, and `id_country_code`, with their
/// cross-field rules: an SSN needs a US residence and a US issuing country.
fn read_id_document(
    o: &mut Obj,
    number_field: &str,
    residence: Option<&Country>,
) -> Option<(IdType, IdNumber, Country)> {
    let id_type = o.req("id_type", IdType::parse);
    let number = match id_type {
        Some(t) => o.req(number_field, |text| IdNumber::parse(t, text)),
        None => {
            o.take(number_field);
            None
        }
    };
    let id_country = o.req("id_country_code", Country::parse);
    if id_type == Some(IdType::Ssn) {
        if residence.is_some_and(|c| !c.is_us()) {
            o.report("id_type", "can be ssn only for residents of the US");
        }
        if id_country.as_ref().is_some_and(|c| !c.is_us()) {
            o.report("id_country_code", "must be US when id_type is ssn");
        }
    }
    Some((id_type?, number?, id_country?))
}

/// The optional work fields shared by individuals and beneficial owners.
struct Work {
    employment_status: Option<String>,
    industry: Option<String>,
    occupation: Option<String>,
    job_title: Option<String>,
}

fn read_work(o: &mut Obj) -> Option<Work> {
    let name_of = |t: Option<Term>| t.map(|t| t.as_str().to_owned());
    let employment_status = o.opt("employment_status", term(&vocab::EMPLOYMENT_STATUS));
    let industry = o.opt("industry", term(&vocab::INDUSTRY));
    let occupation = o.opt("occupation", term(&vocab::OCCUPATION));
    let job_title = o.opt("job_title", text(100));
    Some(Work {
        employment_status: name_of(employment_status?),
        industry: name_of(industry?),
        occupation: name_of(occupation?),
        job_title: job_title?,
    })
}

fn read_individual(parent: &Obj, value: Value, today: Date) -> Option<Individual> {
    let mut o = Obj::new(value, &parent.path_of("individual"), parent.problems())?;
    let dob = o.req("dob", |t| parse_dob(t, today));
    let country = o.req("residential_country_code", Country::parse);
    let address = o.req("residential_address", Address::parse);
    let city = o.req("residential_city", Name::parse);
    let state = read_state(&mut o, "residential_state", country.as_ref());
    let postal = read_postal(&mut o, "residential_postal_code", country.as_ref());
    let id = read_id_document(&mut o, "id_number", country.as_ref());
    let work = read_work(&mut o);
    o.finish();
    let (id_type, id_number, id_country) = id?;
    let work = work?;
    Some(Individual {
        dob: format_date(dob?),
        residential_country_code: country?.into_string(),
        residential_address: address?.into_string(),
        residential_city: city?.into_string(),
        residential_state: state?,
        residential_postal_code: postal?,
        id_type: id_type.as_str().to_owned(),
        id_number: id_number.masked(),
        id_country_code: id_country.into_string(),
        employment_status: work.employment_status,
        industry: work.industry,
        occupation: work.occupation,
        job_title: work.job_title,
    })
}

fn read_business(parent: &Obj, value: Value, today: Date) -> Option<Business> {
    let mut o = Obj::new(value, &parent.path_of("business"), parent.problems())?;
    let entity_name = o.req("entity_name", Name::parse);
    let country = o.req("incorporation_country", Country::parse);
    let state = read_state(&mut o, "incorporation_state", country.as_ref());
    let organization_type = o.req("organization_type", text(100));
    let business_type = o.req("business_type", text(100));
    let registration_number = o.req("registration_number", parse_registration_number);
    let website = o.opt("website", Website::parse);
    let description = o.opt("description", text(500));
    let incorporation_date = o.req("incorporation_date", |t| parse_past_date(t, today));
    let accredited_investor = o.flag("accredited_investor");
    let non_agent_intermediary = o.flag("non_agent_intermediary");
    let place_country = o.req("principal_place_country", Country::parse);
    let place_state = read_state(&mut o, "principal_place_state", place_country.as_ref());
    let place_address = o.req("principal_place_address", Address::parse);
    let place_city = o.req("principal_place_city", Name::parse);
    let place_postal = read_postal(
        &mut o,
        "principal_place_postal_code",
        place_country.as_ref(),
    );
    o.finish();
    Some(Business {
        entity_name: entity_name?.into_string(),
        incorporation_country: country?.into_string(),
        incorporation_state: state?,
        organization_type: organization_type?,
        business_type: business_type?,
        registration_number: registration_number?.masked(),
        website: website?.map(Website::into_string),
        description: description?,
        incorporation_date: format_date(incorporation_date?),
        accredited_investor: accredited_investor?,
        non_agent_intermediary: non_agent_intermediary?,
        principal_place_country: place_country?.into_string(),
        principal_place_state: place_state?,
        principal_place_address: place_address?.into_string(),
        principal_place_city: place_city?.into_string(),
        principal_place_postal_code: place_postal?,
    })
}

fn read_owners(
    parent: &Obj,
    value: Value,
    today: Date,
    rules: Rules,
) -> Option<Vec<BeneficialOwner>> {
    let Value::Array(items) = value else {
        parent.report("beneficial_owners", "must be an array of owners");
        return None;
    };
    if items.is_empty() || items.len() > MAX_BENEFICIAL_OWNERS {
        parent.report(
            "beneficial_owners",
            format!(
                "must list 1 to {MAX_BENEFICIAL_OWNERS} owners, not {}",
                items.len()
            ),
        );
        return None;
    }
    let owners: Vec<Option<BeneficialOwner>> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("{}[{i}]", parent.path_of("beneficial_owners"));
            read_owner(Obj::new(item, &path, parent.problems())?, today, rules)
        })
        .collect();
    owners.into_iter().collect()
}

fn read_owner(mut o: Obj, today: Date, rules: Rules) -> Option<BeneficialOwner> {
    refuse_server_fields(&mut o, &["id"]);
    let email = o.req("email", Email::parse);
    let first_name = o.req("first_name", Name::parse);
    let middle_name = o.opt("middle_name", Name::parse);
    let last_name = o.req("last_name", Name::parse);
    let phone_number = o.req("phone_number", |t| {
        Phone::parse_with(t, rules.strict_phone_numbers)
    });
    let dob = o.req("dob", |t| parse_dob(t, today));
    let street = o.req("address_street1", Address::parse);
    let city = o.req("address_city", Name::parse);
    let country = o.req("address_country_code", Country::parse);
    let subdivision = read_state(&mut o, "address_subdivision", country.as_ref());
    let postal = read_postal(&mut o, "address_postal_code", country.as_ref());
    let id = read_id_document(&mut o, "ssn", country.as_ref());
    let work = read_work(&mut o);
    o.finish();
    let (id_type, number, id_country) = id?;
    let work = work?;
    Some(BeneficialOwner {
        id: Uuid::now_v7().to_string(),
        email: email?.into_string(),
        first_name: first_name?.into_string(),
        middle_name: middle_name?.map(Name::into_string),
        last_name: last_name?.into_string(),
        phone_number: phone_number?.into_string(),
        dob: format_date(dob?),
        ssn: number.masked(),
        address_street1: street?.into_string(),
        address_city: city?.into_string(),
        address_subdivision: subdivision?,
        address_country_code: country?.into_string(),
        address_postal_code: postal?,
        id_type: id_type.as_str().to_owned(),
        id_country_code: id_country.into_string(),
        job_title: work.job_title,
        employment_status: work.employment_status,
        industry: work.industry,
        occupation: work.occupation,
    })
}
