//! Uploaded documents: the content rule (magic bytes matching the extension),
//! file names, document types, and a stored document's metadata (CONTRACT §7).

use onboard_api::DocumentOut;
use time::OffsetDateTime;

use crate::time_format::rfc3339_millis;
use crate::values::UserId;

/// The longest file name accepted.
pub const MAX_FILENAME: usize = 255;

/// The content types Onboard stores, told by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Jpeg,
    Png,
    Pdf,
}

impl FileKind {
    /// How many leading bytes [`FileKind::sniff`] needs.
    pub const HEAD: usize = 8;

    /// The kind the content's magic bytes announce.
    pub fn sniff(head: &[u8]) -> Option<FileKind> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileKind::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(FileKind::Png)
        } else if head.starts_with(b"%PDF-") {
            Some(FileKind::Pdf)
        } else {
            None
        }
    }

    /// The kind a file name's extension promises.
    pub fn from_extension(filename: &str) -> Option<FileKind> {
        let (_, ext) = filename.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(FileKind::Jpeg),
            "png" => Some(FileKind::Png),
            "pdf" => Some(FileKind::Pdf),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
            FileKind::Pdf => "application/pdf",
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileKind::Jpeg => "a JPEG",
            FileKind::Png => "a PNG",
            FileKind::Pdf => "a PDF",
        }
    }

    /// The content rule: the bytes are a JPEG, PNG or PDF and match the
    /// extension; otherwise the sentence of the 422.
    pub fn check(filename: &str, head: &[u8]) -> Result<FileKind, String> {
        let Some(promised) = FileKind::from_extension(filename) else {
            return Err(format!(
                "{filename} must be a JPEG, PNG or PDF file named .jpg, .jpeg, .png or .pdf"
            ));
        };
        match FileKind::sniff(head) {
            Some(found) if found == promised => Ok(found),
            Some(found) => Err(format!(
                "{filename} is named as {} but its content is {}",
                promised.name(),
                found.name()
            )),
            None => Err(format!(
                "{filename} is named as {} but its content is not a JPEG, PNG or PDF",
                promised.name()
            )),
        }
    }
}

/// A file name as uploaded: a plain name (no path), with an extension.
pub fn check_filename(filename: &str) -> Result<(), String> {
    if filename.is_empty() || filename.chars().count() > MAX_FILENAME {
        return Err(format!(
            "a file name must be 1 to {MAX_FILENAME} characters"
        ));
    }
    if filename
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(format!("the file name {filename:?} must not hold a path"));
    }
    if crate::values::has_invisible(filename) {
        // Not echoed: shown, it would read as another name.
        return Err(format!(
            "a file name {}",
            crate::values::ValueError::Invisible
        ));
    }
    Ok(())
}

/// A file name without its extension: what a File-Upload answer names.
pub fn stem(filename: &str) -> &str {
    filename.rsplit_once('.').map_or(filename, |(s, _)| s)
}

/// The vendor's document types of `POST /v1/files/verification`, and the two of
/// the legacy upload's `file_types` (`ID`, `PoR`).
pub const DOCUMENT_TYPES: &[&str] = &[
    "passport",
    "drivers_license_front",
    "drivers_license_back",
    "state_provincial_id_front",
    "state_provincial_id_back",
    "national_id_front",
    "national_id_back",
    "military_id",
    "matriculate_id",
    "visa",
    "bank_statement",
    "utility_bill",
    "payslip",
    "business_formation",
    "ownership_chart",
    "other",
];

/// The legacy upload's `file_types` values.
pub const LEGACY_FILE_TYPES: &[&str] = &["ID", "PoR"];

/// A stored document's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: i64,
    pub user_id: UserId,
    pub filename: String,
    pub document_type: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: OffsetDateTime,
    pub ddq_id: Option<i64>,
}

impl Document {
    pub fn to_wire(&self) -> DocumentOut {
        DocumentOut {
            id: self.id,
            user_id: self.user_id.as_str().to_owned(),
            filename: self.filename.clone(),
            document_type: self.document_type.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            uploaded_at: rfc3339_millis(self.uploaded_at),
            ddq_id: self.ddq_id,
        }
    }
}

/// Who uploaded a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploader {
    ApiKey,
    UserToken,
}

impl Uploader {
    pub fn as_str(self) -> &'static str {
        match self {
            Uploader::ApiKey => "api_key",
            Uploader::UserToken => "user_token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_must_match_the_extension() {
        let png = b"\x89PNG\r\n\x1a\n0000";
        assert_eq!(FileKind::check("a.PNG", png), Ok(FileKind::Png));
        assert!(FileKind::check("a.jpg", png).unwrap_err().contains("a PNG"));
        assert!(FileKind::check("a.png", b"GIF89a").is_err());
        assert!(FileKind::check("a.gif", png).is_err());
        assert_eq!(FileKind::check("x.pdf", b"%PDF-1.7"), Ok(FileKind::Pdf));
        assert_eq!(
            FileKind::check("x.jpeg", &[0xFF, 0xD8, 0xFF, 0xE0]),
            Ok(FileKind::Jpeg)
        );
    }
}
