//! Between the store's plain values and SQLite's: parameters in, rows out, and
//! driver errors translated into [`StoreError`].

use std::sync::Arc;

use onboard_core::store::StoreError;
use onboard_store_sql::{Row, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, ToSql, ffi, params_from_iter};

/// A parameter as SQLite binds it (booleans are the integers 0 and 1).
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Int(Some(i)) => ValueRef::Integer(*i),
            Value::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Value::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Value::Bytes(Some(b)) => ValueRef::Blob(b),
            Value::Int(None) | Value::Text(None) | Value::Bytes(None) => ValueRef::Null,
        }))
    }
}

/// Runs `sql` on `conn` (through its statement cache) and returns every row.
pub(crate) fn fetch(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(classify)?;
    let names: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut raw = statement
        .query(params_from_iter(args.iter().map(Param)))
        .map_err(classify)?;
    let mut rows = Vec::new();
    while let Some(row) = raw.next().map_err(classify)? {
        let values = (0..names.len())
            .map(|i| value(row.get_ref(i).map_err(classify)?))
            .collect::<Result<_, _>>()?;
        rows.push(Row::new(names.clone(), values));
    }
    Ok(rows)
}

/// Runs `sql`, whose rows are an integer and a text, on `conn` and returns them
/// as pairs, without a [`Row`] each.
pub(crate) fn fetch_pairs(
    conn: &Connection,
    sql: &str,
    args: &[Value],
) -> Result<Vec<(i64, Option<String>)>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(classify)?;
    if statement.column_count() != 2 {
        return Err(StoreError::Internal(
            "a pair read other than two columns".into(),
        ));
    }
    let mut raw = statement
        .query(params_from_iter(args.iter().map(Param)))
        .map_err(classify)?;
    let mut pairs = Vec::new();
    while let Some(row) = raw.next().map_err(classify)? {
        let int = match row.get_ref(0).map_err(classify)? {
            ValueRef::Integer(i) => i,
            _ => return Err(StoreError::Internal("a pair without its integer".into())),
        };
        let text = match row.get_ref(1).map_err(classify)? {
            ValueRef::Null => None,
            ValueRef::Text(t) => Some(text(t)?),
            _ => return Err(StoreError::Internal("a pair without its text".into())),
        };
        pairs.push((int, text));
    }
    Ok(pairs)
}

/// Runs `sql` on `conn` and returns how many rows it changed (rows it returns,
/// if any, are read and dropped).
pub(crate) fn execute(conn: &Connection, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(classify)?;
    let mut raw = statement
        .query(params_from_iter(args.iter().map(Param)))
        .map_err(classify)?;
    while raw.next().map_err(classify)?.is_some() {}
    drop(raw);
    Ok(conn.changes())
}

/// A column value by its storage class. The schema stores no floating-point
/// values, so a REAL is corrupt data.
fn value(raw: ValueRef<'_>) -> Result<Value, StoreError> {
    match raw {
        ValueRef::Null => Ok(Value::Int(None)),
        ValueRef::Integer(i) => Ok(Value::Int(Some(i))),
        ValueRef::Text(t) => Ok(Value::Text(Some(text(t)?))),
        ValueRef::Blob(b) => Ok(Value::Bytes(Some(b.to_vec()))),
        ValueRef::Real(_) => Err(StoreError::Internal("unexpected REAL value".into())),
    }
}

fn text(raw: &[u8]) -> Result<String, StoreError> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| StoreError::Internal("a TEXT value is not UTF-8".into()))
}

/// Maps a driver error: uniqueness violations are conflicts; a busy, locked,
/// full or unreadable database is unavailable; the rest is internal.
pub(crate) fn classify(e: rusqlite::Error) -> StoreError {
    let rusqlite::Error::SqliteFailure(failure, message) = &e else {
        return StoreError::Internal(e.to_string());
    };
    let text = || message.clone().unwrap_or_else(|| e.to_string());
    match failure.code {
        ErrorCode::ConstraintViolation
            if matches!(
                failure.extended_code,
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) =>
        {
            StoreError::Conflict(text())
        }
        ErrorCode::DiskFull => StoreError::DiskFull(text()),
        ErrorCode::DatabaseBusy
        | ErrorCode::DatabaseLocked
        | ErrorCode::CannotOpen
        | ErrorCode::SystemIoFailure
        | ErrorCode::OutOfMemory => StoreError::Unavailable(text()),
        _ => StoreError::Internal(text()),
    }
}
