//! Validated value types of CONTRACT §3. Each constructor is the only way in, so a
//! value that exists is a valid one; each failure is a [`ValueError`] whose `Display`
//! is the sentence the client reads.

use std::fmt;

use email_address::{EmailAddress, Options};
use thiserror::Error;

/// Why a single field value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must be at least {0} characters")]
    TooShort(usize),
    #[error("must contain at least one letter")]
    NoLetter,
    #[error("must not have leading or trailing spaces")]
    Untrimmed,
    #[error("may only contain {0}")]
    BadCharacters(&'static str),
    #[error("must be one of: {0}")]
    NotInList(String),
    #[error("is not a valid email address ({0})")]
    Email(String),
    #[error("must be a valid phone number in E.164 format, such as +14155552671")]
    Phone,
    #[error("is not an ISO 3166-1 alpha-2 country code")]
    Country,
    #[error(
        "must not contain invisible formatting characters (such as a right-to-left override or a zero-width space)"
    )]
    Invisible,
    #[error("must not be only dots: a URL cannot address . or ..")]
    OnlyDots,
    #[error("{0}")]
    Rule(String),
}

/// Whether `text` holds a Unicode format character (category Cf: direction
/// overrides and isolates, zero-width spaces, the byte-order mark, …), which
/// displays as nothing or reorders what follows, so that `\u{202E}gnp.exe.pdf`
/// shows as `fdp.exe.png`. A zero-width non-joiner or joiner (U+200C, U+200D)
/// directly between two letters is allowed: Persian and Indic names need them.
pub fn has_invisible(text: &str) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        if c.general_category() != GeneralCategory::Format {
            return false;
        }
        let joins = matches!(c, '\u{200C}' | '\u{200D}');
        let between_letters = i > 0
            && chars[i - 1].is_alphabetic()
            && chars.get(i + 1).is_some_and(|next| next.is_alphabetic());
        !(joins && between_letters)
    })
}

fn check_length(text: &str, min: usize, max: usize) -> Result<(), ValueError> {
    let count = text.chars().count();
    if count == 0 && min > 0 {
        Err(ValueError::Empty)
    } else if count < min {
        Err(ValueError::TooShort(min))
    } else if count > max {
        Err(ValueError::TooLong(max))
    } else {
        Ok(())
    }
}

/// Declares a string newtype with `as_str`, `Display` and `into_string`.
macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }

            /// A value read back from this server's own storage or event
            /// snapshots, where it was checked when first written (by the rules
            /// of that day); never for input from a client.
            pub fn from_stored(text: String) -> Self {
                $name(text)
            }
        }

        /// Reads as the text it holds (it cannot be built without its checks).
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_value!(
    /// The enterprise's own id for an end user: 1–128 of `A-Z a-z 0-9 _ - . : @`,
    /// not only dots.
    UserId
);

impl UserId {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        check_length(text, 1, 128)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.:@".contains(c);
        if !text.chars().all(allowed) {
            return Err(ValueError::BadCharacters("letters, digits and _ - . : @"));
        }
        // `.` and `..` are collapsed by browsers and most HTTP clients, so such a
        // user could never be addressed by its path; longer runs are refused with
        // them so the rule is simple to state.
        if text.chars().all(|c| c == '.') {
            return Err(ValueError::OnlyDots);
        }
        Ok(UserId(text.to_owned()))
    }
}

string_value!(
    /// A person's or a city's name: trimmed, 1–100 characters, at least one letter.
    Name
);

impl Name {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        Text::parse(text, 100)
            .and_then(require_letter)
            .map(|t| Name(t.0))
    }
}

fn require_letter(text: Text) -> Result<Text, ValueError> {
    if text.0.chars().any(char::is_alphabetic) {
        Ok(text)
    } else {
        Err(ValueError::NoLetter)
    }
}

string_value!(
    /// A street address: trimmed, at most 80 characters, at least one letter.
    Address
);

impl Address {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        Text::parse(text, 80)
            .and_then(require_letter)
            .map(|t| Address(t.0))
    }
}

string_value!(
    /// Free text, trimmed, non-empty, within a length limit given at parse time.
    Text
);

impl Text {
    pub fn parse(text: &str, max: usize) -> Result<Self, ValueError> {
        let trimmed = text.trim();
        check_length(trimmed, 1, max)?;
        if trimmed.chars().any(char::is_control) {
            return Err(ValueError::BadCharacters("printable characters"));
        }
        if has_invisible(trimmed) {
            return Err(ValueError::Invisible);
        }
        Ok(Text(trimmed.to_owned()))
    }
}

string_value!(
    /// An email address: RFC 5321/3696 valid, a domain with a TLD, at most 254 chars.
    Email
);

impl Email {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        if text.trim() != text {
            return Err(ValueError::Untrimmed);
        }
        check_length(text, 1, 254)?;
        let options = Options::default()
            .with_required_tld()
            .without_display_text()
            .without_domain_literal();
        EmailAddress::parse_with_options(text, options)
            .map_err(|e| ValueError::Email(e.to_string()))?;
        check_rfc5321_strict(text)?;
        Ok(Email(text.to_owned()))
    }
}

/// What `email_address` lets through but RFC 5321/3696 do not: it also takes RFC 6531
/// (UTF-8) addresses and any domain label, while RFC 5321 wants ASCII and
/// letter-digit-hyphen labels, and RFC 3696 §2 a top-level domain that is not all-numeric.
fn check_rfc5321_strict(text: &str) -> Result<(), ValueError> {
    let refuse = |why: &str| Err(ValueError::Email(why.to_owned()));
    if !text.is_ascii() {
        return refuse("only ASCII characters are allowed");
    }
    let domain = text.rsplit_once('@').map_or("", |(_, domain)| domain);
    let ldh = |label: &str| {
        label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !domain.split('.').all(ldh) {
        return refuse("domain labels may only contain letters, digits and hyphens");
    }
    let tld = domain.rsplit('.').next().unwrap_or("");
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("the top-level domain must not be all-numeric");
    }
    Ok(())
}

string_value!(
    /// An ISO 3166-1 alpha-2 country code, upper case.
    Country
);

impl Country {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let upper = text.to_ascii_uppercase();
        if upper.len() != 2 || rust_iso3166::from_alpha2(&upper).is_none() {
            return Err(ValueError::Country);
        }
        Ok(Country(upper))
    }

    pub fn is_us(&self) -> bool {
        self.0 == "US"
    }
}

string_value!(
    /// An E.164 phone number of a possible length for its calling code (or, under
    /// strict rules, one the numbering plan says is valid).
    Phone
);

impl Phone {
    /// E.164 of a possible length (CONTRACT §3): the vendor's own example
    /// `+12223334444` has an unassigned area code and must still pass.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        Self::parse_with(text, false)
    }

    /// E.164, and `strict`: a valid number, not only a possible one.
    pub fn parse_with(text: &str, strict: bool) -> Result<Self, ValueError> {
        let number = phonenumber::parse(None, text).map_err(|_| ValueError::Phone)?;
        // `parse` is lenient (spaces, dashes, national prefixes): E.164 means the
        // number formats back to exactly the input.
        let canonical = number.format().mode(phonenumber::Mode::E164).to_string();
        if canonical != text {
            return Err(ValueError::Phone);
        }
        let acceptable = if strict {
            number.is_valid()
        } else {
            is_possible(&number)
        };
        if !acceptable {
            return Err(ValueError::Phone);
        }
        Ok(Phone(canonical))
    }

    /// The country calling code (`1` for `+1…`).
    pub fn calling_code(&self) -> u16 {
        phonenumber::parse(None, &self.0).map_or(0, |n| n.code().value())
    }

    /// The region (ISO 3166-1 alpha-2) the number belongs to, when the plan says.
    pub fn region(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        number.country().id().map(|id| id.as_ref().to_owned())
    }
}

/// libphonenumber's possible-number test: the national number has a length that
/// some region of its calling code dials (locally-only lengths do not count: an
/// E.164 number is dialled from anywhere).
fn is_possible(number: &phonenumber::PhoneNumber) -> bool {
    let database = &*phonenumber::metadata::DATABASE;
    let length = number.national().to_string().len();
    let Some(regions) = database.by_code(&number.code().value()) else {
        return false;
    };
    // The lengths sit on each type of number (the general descriptor's list is
    // empty in this metadata).
    use phonenumber::Type;
    const TYPES: [Type; 10] = [
        Type::FixedLine,
        Type::Mobile,
        Type::FixedLineOrMobile,
        Type::TollFree,
        Type::PremiumRate,
        Type::SharedCost,
        Type::PersonalNumber,
        Type::Voip,
        Type::Pager,
        Type::Uan,
    ];
    regions.iter().any(|meta| {
        let descriptors = meta.descriptors();
        std::iter::once(descriptors.general())
            .chain(TYPES.iter().filter_map(|&kind| descriptors.get(kind)))
            .flat_map(|d| d.possible_length().iter())
            .any(|&l| usize::from(l) == length)
    })
}

/// The calling code of an ISO 3166-1 alpha-2 country, when it has one.
pub fn calling_code(country: &Country) -> Option<u16> {
    let database = &*phonenumber::metadata::DATABASE;
    database
        .by_id(country.as_str())
        .map(|meta| meta.country_code())
}

/// Loads the phone metadata once, so that the first request does not pay for it.
pub fn warm_up() {
    let _ = Phone::parse("+14155552671");
}

string_value!(
    /// An ISO 3166-2 subdivision of a known country: for `US` the two-letter state
    /// code (`CA`), elsewhere either the full code (`DE-BY`) or its suffix (`BY`).
    Subdivision
);

impl Subdivision {
    pub fn parse(country: &Country, text: &str) -> Result<Self, ValueError> {
        let upper = text.trim().to_ascii_uppercase();
        let suffix = upper
            .strip_prefix(&format!("{}-", country.as_str()))
            .unwrap_or(&upper);
        if country.is_us() && (suffix.len() != 2 || upper.len() != 2) {
            return Err(ValueError::Rule(
                "must be a two-letter US state code, such as CA".into(),
            ));
        }
        let code = format!("{}-{suffix}", country.as_str());
        if rust_iso3166::iso3166_2::from_code(&code).is_none() {
            return Err(ValueError::Rule(format!(
                "is not an ISO 3166-2 subdivision of {country}"
            )));
        }
        Ok(Subdivision(upper))
    }

    /// The full ISO 3166-2 code (`US-CA`), whatever form was given.
    pub fn full_code(&self, country: &Country) -> String {
        if self.0.contains('-') {
            self.0.clone()
        } else {
            format!("{country}-{}", self.0)
        }
    }
}

string_value!(
    /// A postal code: for `US` five digits (ZIP+4 accepted), elsewhere 2–10 letters
    /// and digits, with single inner spaces or dashes allowed (`SW1A 1AA`).
    PostalCode
);

impl PostalCode {
    pub fn parse(country: &Country, text: &str) -> Result<Self, ValueError> {
        let text = text.trim().to_ascii_uppercase();
        if country.is_us() {
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            let ok = match text.split_once('-') {
                None => text.len() == 5 && digits(&text),
                Some((zip, plus4)) => {
                    zip.len() == 5 && plus4.len() == 4 && digits(zip) && digits(plus4)
                }
            };
            return if ok {
                Ok(PostalCode(text))
            } else {
                Err(ValueError::Rule(
                    "must be a 5-digit US ZIP code (ZIP+4 such as 94105-1234 accepted)".into(),
                ))
            };
        }
        check_length(&text, 2, 10)?;
        let separators_ok = !text.starts_with([' ', '-'])
            && !text.ends_with([' ', '-'])
            && !text.contains("  ")
            && !text.contains("--");
        let chars_ok = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
        if !(separators_ok && chars_ok) {
            return Err(ValueError::BadCharacters(
                "letters and digits, with single spaces or dashes between them",
            ));
        }
        Ok(PostalCode(text))
    }
}

string_value!(
    /// An `http` or `https` URL with a host.
    Website
);

impl Website {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let text = text.trim();
        check_length(text, 1, 2048)?;
        let lower = text.to_ascii_lowercase();
        let scheme_len = ["https://", "http://"]
            .into_iter()
            .find(|s| lower.starts_with(s))
            .map(str::len)
            .ok_or_else(|| ValueError::Rule("must be an http:// or https:// URL".into()))?;
        let host = text[scheme_len..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        let host_ok = host.chars().any(char::is_alphanumeric)
            && !host.starts_with(['.', '-'])
            && host
                .chars()
                .all(|c| c.is_alphanumeric() || "-.:[]".contains(c));
        if !host_ok || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValueError::Rule(
                "must be an http:// or https:// URL with a host".into(),
            ));
        }
        Ok(Website(text.to_owned()))
    }
}
