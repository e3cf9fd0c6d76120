//! The closed vocabularies of CONTRACT §3 and of the vendor's *Get End User* page.
//! Input matches in any case; the stored and returned form is lower case, as the
//! vendor's read-back shows (`"account_purpose": "arbitrage trading"`).

use crate::values::ValueError;

/// A closed list of terms, all lower case.
#[derive(Debug)]
pub struct Vocabulary {
    terms: &'static [&'static str],
}

/// A term of some [`Vocabulary`], in its canonical lower-case form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term(&'static str);

impl Term {
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether this is the `other` term that requires a matching `*_other` text.
    pub fn is_other(self) -> bool {
        self.0 == "other"
    }
}

impl Vocabulary {
    pub fn parse(&self, text: &str) -> Result<Term, ValueError> {
        let wanted = text.trim().to_lowercase();
        self.terms
            .iter()
            .find(|t| **t == wanted)
            .map(|t| Term(t))
            .ok_or_else(|| ValueError::NotInList(self.terms.join(", ")))
    }
}

pub static INDIVIDUAL_PURPOSE: Vocabulary = Vocabulary {
    terms: &[
        "trading",
        "selling only",
        "other",
        "online purchases",
        "online payments",
        "investing",
        "buying only",
        "business",
    ],
};

pub static CORPORATE_PURPOSE: Vocabulary = Vocabulary {
    terms: &[
        "treasury management",
        "operating",
        "liquidating crypto assets",
        "investment fund",
        "cross border payments",
        "arbitrage trading",
        "other",
    ],
};

pub static SOURCE_OF_FUNDS: Vocabulary = Vocabulary {
    terms: &[
        "salary",
        "savings",
        "investments",
        "business_income",
        "inheritance",
        "gift",
        "sale_of_property",
        "crypto",
        "other",
    ],
};

pub static INTERMEDIARY_STATUS: Vocabulary = Vocabulary {
    terms: &["yes", "no"],
};

pub static VOLUME_BAND: Vocabulary = Vocabulary {
    terms: &["0_10k", "10k_50k", "50k_250k", "250k_1m", "1m_plus"],
};

pub static EMPLOYMENT_STATUS: Vocabulary = Vocabulary {
    terms: &[
        "full_time_employee",
        "unemployed",
        "retired",
        "student",
        "self_employed",
        "independent_contractor",
    ],
};

pub static INDUSTRY: Vocabulary = Vocabulary {
    terms: &[
        "agriculture",
        "administrative_support_services",
        "arts_media",
        "consulting",
        "construction",
        "education",
        "entertainment",
        "energy",
        "ecommerce_digital_platforms",
        "financial_services",
        "food_hospitality",
        "government",
        "healthcare",
        "information_media",
        "manufacturing",
        "mining_crypto",
        "mining_extraction",
        "non_profit",
        "professional_services",
        "personal_services",
        "real_estate",
        "retail_trade",
        "social_services",
        "transportation_warehousing",
        "technology_software",
        "utilities",
        "wholesale_trade",
    ],
};

pub static OCCUPATION: Vocabulary = Vocabulary {
    terms: &[
        "management_executive",
        "business_financial_operations",
        "computer_mathematical",
        "architecture_engineering",
        "life_physical_social_science",
        "healthcare_practitioners_technical",
        "healthcare_support",
        "legal",
        "education_training_library",
        "arts_design_entertainment_media",
        "community_social_service",
        "protective_service",
        "sales_related",
        "office_administrative_support",
        "food_preparation_serving",
        "personal_care_service",
        "building_grounds_maintenance",
        "construction_extraction",
        "installation_maintenance_repair",
        "production_manufacturing",
        "transportation_material_moving",
        "farming_fishing_forestry",
        "military",
        "student",
        "homemaker_caregiver",
        "unemployed_between_jobs",
        "retired",
    ],
};
