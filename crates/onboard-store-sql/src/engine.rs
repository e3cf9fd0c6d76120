//! What a database backend provides: statements in and rows out, as plain values,
//! inside or outside a write transaction. Everything else (the SQL, the row
//! mapping, the order of writes) lives above this trait, written once.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use onboard_core::events::ChangeNotifier;
use onboard_core::store::StoreError;

/// A statement parameter or a column value. Nulls carry their type so that a
/// strictly typed engine (PostgreSQL) can bind them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    /// A BLOB (SQLite) or BYTEA (PostgreSQL).
    Bytes(Option<Vec<u8>>),
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(Some(v))
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Value::Text(v.clone())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// Builds a parameter list: `args![a, b, c]`.
#[macro_export]
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        vec![$($crate::Value::from($v)),*]
    };
}

/// One result row: values by column name, as the statement named them.
#[derive(Debug, Clone)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

fn corrupt(column: &str, want: &str) -> StoreError {
    StoreError::Internal(format!("column {column} is not {want}"))
}

impl Row {
    /// A row of `values`, named by `names` (shared by every row of one result).
    pub fn new(names: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { names, values }
    }

    fn value(&self, column: &str) -> Result<&Value, StoreError> {
        self.index(column).map(|i| &self.values[i])
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            Value::Int(v) => Ok(*v),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            Value::Text(None) | Value::Bytes(None) => Ok(None),
            Value::Text(Some(_)) | Value::Bytes(Some(_)) => Err(corrupt(column, "an integer")),
        }
    }

    pub fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.opt_int(column)?
            .ok_or_else(|| corrupt(column, "a non-null integer"))
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        match self.value(column)? {
            Value::Text(v) => Ok(v.clone()),
            Value::Int(None) => Ok(None),
            _ => Err(corrupt(column, "text")),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?
            .ok_or_else(|| corrupt(column, "non-null text"))
    }

    /// A row of an integer and a text, as [`Engine::read_pairs`] gives it.
    pub fn into_pair(self) -> Result<(i64, Option<String>), StoreError> {
        let [int, text] = <[Value; 2]>::try_from(self.values)
            .map_err(|_| StoreError::Internal("a pair read other than two columns".into()))?;
        match (int, text) {
            (Value::Int(Some(i)), Value::Text(t)) => Ok((i, t)),
            (Value::Int(Some(i)), Value::Int(None)) => Ok((i, None)),
            _ => Err(StoreError::Internal(
                "a pair read other than an integer and a text".into(),
            )),
        }
    }

    /// Text, taken out of the row rather than copied (a row is read once).
    pub fn take_opt_text(&mut self, column: &str) -> Result<Option<String>, StoreError> {
        let i = self.index(column)?;
        match &mut self.values[i] {
            Value::Text(v) => Ok(v.take()),
            Value::Int(None) => Ok(None),
            _ => Err(corrupt(column, "text")),
        }
    }

    /// Non-null text, taken out of the row.
    pub fn take_text(&mut self, column: &str) -> Result<String, StoreError> {
        self.take_opt_text(column)?
            .ok_or_else(|| corrupt(column, "non-null text"))
    }

    fn index(&self, column: &str) -> Result<usize, StoreError> {
        self.names
            .iter()
            .position(|n| n == column)
            .ok_or_else(|| StoreError::Internal(format!("no column {column} in the result")))
    }

    /// Bytes, taken out of the row (a row is read once).
    pub fn take_bytes(&mut self, column: &str) -> Result<Vec<u8>, StoreError> {
        let i = self.index(column)?;
        match std::mem::replace(&mut self.values[i], Value::Bytes(None)) {
            Value::Bytes(Some(bytes)) => Ok(bytes),
            _ => Err(corrupt(column, "bytes")),
        }
    }

    /// A boolean, stored as a boolean or as the integer 0 or 1.
    pub fn bool(&self, column: &str) -> Result<bool, StoreError> {
        match self.value(column)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(Some(0)) => Ok(false),
            Value::Int(Some(1)) => Ok(true),
            _ => Err(corrupt(column, "a boolean")),
        }
    }
}

/// How one engine's SQL differs from the common text the statements are written
/// in. Statements use `?` placeholders, numbered left to right; an engine that
/// numbers its parameters (`$1`) rewrites them.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Appended to a `SELECT` of a row the transaction is about to change, so a
    /// concurrent writer of the same row waits. Empty where the write transaction
    /// already excludes every other writer.
    pub for_update: &'static str,
    /// Appended to a `SELECT` of a row the transaction relies on but does not change.
    pub for_share: &'static str,
    /// Locks the rows a statement picks, skipping rows another transaction holds
    /// (work queues): `FOR UPDATE SKIP LOCKED`, or nothing where one writer runs
    /// at a time.
    pub skip_locked: &'static str,
    /// A statement run by every transaction that appends an event, with the
    /// enterprise id (text) as its one parameter, so that other processes learn
    /// of the event when (and only when) it commits.
    pub notify_event: Option<&'static str>,
}

impl Dialect {
    /// An engine whose write transaction already excludes every other writer
    /// (one writer at a time): no lock clauses, and no other process to notify.
    pub const ONE_WRITER: Dialect = Dialect {
        for_update: "",
        for_share: "",
        skip_locked: "",
        notify_event: None,
    };
}

/// An open write transaction. Dropped without [`Tx::commit`], it rolls back.
#[async_trait]
pub trait Tx: Send {
    async fn fetch(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError>;
    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError>;
    async fn commit(self) -> Result<(), StoreError>;
}

/// A database the store runs on. Implementations translate their driver's errors
/// into [`StoreError`] (uniqueness → `Conflict`, unreachable → `Unavailable`).
#[async_trait]
pub trait Engine: Clone + Send + Sync + 'static {
    type Tx: Tx;

    const DIALECT: Dialect;

    /// Whether concurrent write transactions already share commits in the engine
    /// (SQLite's writer groups them); if not, the store batches registrations
    /// itself (`batch.rs`).
    const GROUP_COMMIT: bool = false;

    /// Whether each statement is a round trip to a database server, so that
    /// reads of single users arriving together are worth sharing one statement
    /// (`lookups.rs`); an engine reading in process answers each at once.
    const SHARE_LOOKUPS: bool = true;

    /// Runs a read-only statement outside any transaction.
    async fn read(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError>;

    /// [`Engine::read`] of a statement whose rows are an integer and a text (a
    /// position and a stored document, say), as pairs. An engine may read these
    /// without building a [`Row`] each; the default goes through `read`.
    async fn read_pairs(
        &self,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        let rows = self.read(sql, args).await?;
        rows.into_iter().map(Row::into_pair).collect()
    }

    /// Runs one statement as its own durable write transaction; returns the rows
    /// it returned.
    async fn write(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError>;

    /// Runs one statement as its own durable write transaction; returns how many
    /// rows it changed.
    async fn write_count(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError>;

    /// Starts a write transaction that later reads of it see whole or not at all.
    async fn begin(&self) -> Result<Self::Tx, StoreError>;

    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Rewrites the database's files so that rows deleted or overwritten
    /// leave nothing readable behind (after the rows of an earlier release were
    /// sealed). Runs outside any transaction, and may take a while.
    async fn compact(&self) -> Result<(), StoreError>;

    /// Forwards changes committed by other processes to `notifier` while it lives;
    /// engines that cannot hear them do nothing (the feed polls anyway).
    async fn forward_changes(&self, notifier: Weak<dyn ChangeNotifier>) {
        let _ = notifier;
    }
}

/// Converts a driver's result rows: `names` reads the column names of a row (the
/// same for all of them), `value` one column's value.
pub fn rows_from<R>(
    raw: &[R],
    names: impl FnOnce(&R) -> Vec<String>,
    value: impl Fn(&R, usize) -> Result<Value, StoreError>,
) -> Result<Vec<Row>, StoreError> {
    let Some(head) = raw.first() else {
        return Ok(Vec::new());
    };
    let names: Arc<[String]> = names(head).into();
    raw.iter()
        .map(|row| {
            let values = (0..names.len())
                .map(|i| value(row, i))
                .collect::<Result<_, _>>()?;
            Ok(Row::new(names.clone(), values))
        })
        .collect()
}

/// The single row a statement must return.
pub(crate) fn one(rows: Vec<Row>) -> Result<Row, StoreError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| StoreError::Internal("a statement returned no row".into()))
}

/// The first row, if any.
pub(crate) fn first(rows: Vec<Row>) -> Option<Row> {
    rows.into_iter().next()
}

/// `a, b` → `t.a, t.b`: the shared column lists, for statements that join.
pub(crate) fn prefixed(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
