//! The questionnaires Onboard ships (CONTRACT §7): `EDDQ - Individual` (prompts
//! 1–8) and `EDDQ - Business` (prompts 9–16). `[[edd.prompts]]` in the
//! configuration file replaces them all.

use super::PromptSpec;

fn prompt(
    id: i64,
    form: &str,
    text: &str,
    kind: &str,
    options: &[&str],
    required: bool,
    note: bool,
) -> PromptSpec {
    PromptSpec {
        id,
        form: form.to_owned(),
        prompt: text.to_owned(),
        response_type: kind.to_owned(),
        response_options: (!options.is_empty())
            .then(|| options.iter().map(|o| (*o).to_owned()).collect()),
        is_required: required,
        optional_free_form: note,
    }
}

const VOLUMES: &[&str] = &[
    "Under 10,000",
    "10,000 to 50,000",
    "50,000 to 250,000",
    "Over 250,000",
];

pub(crate) fn prompts() -> Vec<PromptSpec> {
    let (i, b) = ("individual", "business");
    let (free, select, file) = ("Free-Form", "Single-Select", "File-Upload");
    vec![
        prompt(
            1,
            i,
            "What is the main source of the funds you will deposit?",
            select,
            &[
                "Salary",
                "Savings",
                "Investments",
                "Business income",
                "Inheritance",
                "Other",
            ],
            true,
            true,
        ),
        prompt(
            2,
            i,
            "Describe your occupation and who employs you.",
            free,
            &[],
            true,
            false,
        ),
        prompt(
            3,
            i,
            "How much do you expect to deposit each month, in USD?",
            select,
            VOLUMES,
            true,
            false,
        ),
        prompt(
            4,
            i,
            "What will you mainly use the account for?",
            free,
            &[],
            true,
            false,
        ),
        prompt(
            5,
            i,
            "Are you, or is a close associate or relative of yours, a politically \
            exposed person?",
            select,
            &["Yes", "No"],
            true,
            true,
        ),
        prompt(
            6,
            i,
            "Upload a proof of your residential address issued within the last \
            three months (a utility bill or a bank statement).",
            file,
            &[],
            true,
            false,
        ),
        prompt(
            7,
            i,
            "Upload a document that shows where your funds come from (a payslip, a \
            tax return or a sale agreement).",
            file,
            &[],
            false,
            false,
        ),
        prompt(
            8,
            i,
            "Is there anything else we should know?",
            free,
            &[],
            false,
            false,
        ),
        prompt(
            9,
            b,
            "Describe the company's business and its main products or services.",
            free,
            &[],
            true,
            false,
        ),
        prompt(
            10,
            b,
            "In which countries does the company operate?",
            free,
            &[],
            true,
            false,
        ),
        prompt(
            11,
            b,
            "What is the main source of the company's funds?",
            select,
            &[
                "Operating revenue",
                "Investor capital",
                "Loans",
                "Treasury reserves",
                "Other",
            ],
            true,
            true,
        ),
        prompt(
            12,
            b,
            "How much does the company expect to deposit each month, in USD?",
            select,
            VOLUMES,
            true,
            false,
        ),
        prompt(
            13,
            b,
            "Is the company licensed or regulated by a financial authority?",
            select,
            &["Yes", "No"],
            true,
            true,
        ),
        prompt(
            14,
            b,
            "Upload the company's certificate of incorporation or formation \
            documents.",
            file,
            &[],
            true,
            false,
        ),
        prompt(
            15,
            b,
            "Upload an ownership chart naming every owner of 25% or more.",
            file,
            &[],
            true,
            false,
        ),
        prompt(
            16,
            b,
            "Upload the company's latest financial statements.",
            file,
            &[],
            false,
            false,
        ),
    ]
}
