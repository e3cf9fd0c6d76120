//! Timestamps as the wire shows them (CONTRACT §1).

use time::OffsetDateTime;
use time::macros::format_description;

/// RFC 3339 in UTC with milliseconds: `2024-05-30T17:55:27.981Z`.
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(format)
        .unwrap_or_default()
}

/// Integer Unix nanoseconds, as the WebSocket `timestamp` (19 digits until 2286).
pub fn unix_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_timestamps_have_milliseconds_and_a_z() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_717_091_727_981_123_456).unwrap();
        assert_eq!(rfc3339_millis(t), "2024-05-30T17:55:27.981Z");
    }
}
