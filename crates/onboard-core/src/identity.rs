//! Dates and identity documents (CONTRACT §3): dates of birth, past dates, SSNs,
//! passports and registration numbers, and the masking every read applies to them.

use time::{Date, Month, format_description::BorrowedFormatItem, macros::format_description};

use crate::values::ValueError;

const DATE_FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A real calendar date written exactly `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, ValueError> {
    // The `time` format also takes `+1990-01-31`; insist on the plain shape first.
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(ValueError::Rule("must be a date written YYYY-MM-DD".into()));
    }
    Date::parse(text, DATE_FORMAT)
        .map_err(|_| ValueError::Rule(format!("{text} is not a real calendar date")))
}

pub fn format_date(date: Date) -> String {
    date.format(DATE_FORMAT).unwrap_or_default()
}

/// Whole years between `born` and `today`.
pub fn age_on(born: Date, today: Date) -> i32 {
    let had_birthday = (today.month() as u8, today.day()) >= (born.month() as u8, born.day());
    today.year() - born.year() - i32::from(!had_birthday)
}

/// A date of birth of a person aged 18 to 120 on `today`.
pub fn parse_dob(text: &str, today: Date) -> Result<Date, ValueError> {
    let born = parse_date(text)?;
    if born >= today {
        return Err(ValueError::Rule("must be a date in the past".into()));
    }
    match age_on(born, today) {
        age if age < 18 => Err(ValueError::Rule(format!(
            "says the person is {age}; they must be at least 18 years old"
        ))),
        age if age > 120 => Err(ValueError::Rule(format!(
            "says the person is {age}; they must be at most 120 years old"
        ))),
        _ => Ok(born),
    }
}

/// A date no later than `today` (e.g. an incorporation date).
pub fn parse_past_date(text: &str, today: Date) -> Result<Date, ValueError> {
    let date = parse_date(text)?;
    let earliest = Date::from_calendar_date(1600, Month::January, 1).unwrap_or(Date::MIN);
    if date > today {
        Err(ValueError::Rule("must not be in the future".into()))
    } else if date < earliest {
        Err(ValueError::Rule("must not be before 1600-01-01".into()))
    } else {
        Ok(date)
    }
}

/// The kind of identity document behind an id number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    Ssn,
    Passport,
}

impl IdType {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ssn" => Ok(IdType::Ssn),
            "passport" => Ok(IdType::Passport),
            _ => Err(ValueError::NotInList("ssn, passport".into())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IdType::Ssn => "ssn",
            IdType::Passport => "passport",
        }
    }
}

/// An identity number checked against its [`IdType`]. Only its masked form ever
/// leaves this type: the full number is checked and then dropped (nothing returns it).
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// SSNs that are well formed but were never valid (published, advertising, or
/// reserved by the SSA).
const KNOWN_INVALID_SSNS: &[&str] = &["078051120", "219099999", "123456789"];

impl IdNumber {
    pub fn parse(id_type: IdType, text: &str) -> Result<Self, ValueError> {
        match id_type {
            IdType::Ssn => parse_ssn(text),
            IdType::Passport => parse_passport(text),
        }
    }

    /// `*****` and the last four characters, as the vendor shows (`*****6789`).
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("*****{tail}")
}

fn parse_ssn(text: &str) -> Result<IdNumber, ValueError> {
    let dashed = text.len() == 11 && text.as_bytes()[3] == b'-' && text.as_bytes()[6] == b'-';
    let digits: String = if dashed {
        text.chars().filter(|&c| c != '-').collect()
    } else {
        text.to_owned()
    };
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::Rule(
            "must be an SSN of 9 digits, written 123456789 or 123-45-6789".into(),
        ));
    }
    let (area, group, serial) = (&digits[0..3], &digits[3..5], &digits[5..9]);
    let impossible = area == "000"
        || area == "666"
        || area.starts_with('9')
        || group == "00"
        || serial == "0000"
        || KNOWN_INVALID_SSNS.contains(&digits.as_str());
    if impossible {
        return Err(ValueError::Rule("is not a valid SSN".into()));
    }
    Ok(IdNumber(digits))
}

fn parse_passport(text: &str) -> Result<IdNumber, ValueError> {
    let upper = text.trim().to_ascii_uppercase();
    let len = upper.len();
    if !(5..=20).contains(&len) || !upper.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ValueError::Rule(
            "must be a passport number of 5 to 20 letters and digits".into(),
        ));
    }
    Ok(IdNumber(upper))
}

/// A company registration number: 5–50 letters, digits, spaces and `- / .`.
pub fn parse_registration_number(text: &str) -> Result<IdNumber, ValueError> {
    let trimmed = text.trim();
    let len = trimmed.chars().count();
    let chars_ok = trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -/.".contains(c));
    let alnum = trimmed.chars().filter(char::is_ascii_alphanumeric).count();
    if !(5..=50).contains(&len) || !chars_ok || alnum < 5 {
        return Err(ValueError::Rule(
            "must be 5 to 50 characters: letters and digits (at least 5), spaces, - / .".into(),
        ));
    }
    Ok(IdNumber(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_only_the_last_four_characters() {
        let ssn = IdNumber::parse(IdType::Ssn, "521-45-6789").unwrap();
        assert_eq!(ssn.masked(), "*****6789");
        assert!(!format!("{ssn:?}").contains("52145"));
    }

    #[test]
    fn age_counts_whole_years_around_the_birthday() {
        let d = |y, m, d| Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap();
        assert_eq!(age_on(d(2000, 6, 15), d(2018, 6, 14)), 17);
        assert_eq!(age_on(d(2000, 6, 15), d(2018, 6, 15)), 18);
    }
}
