//! The sqlx side of the shared store code: [`Sql`] names what it needs of a driver (both
//! `Sqlite` and `Postgres` have it), [`Bind`] and [`Fields`] bind and read the schema's column
//! types (text, 64-bit integers, booleans), [`Statement`] is a statement with its parameters.

use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use crate::secret::TokenHash;
use crate::Error;

/// A sqlx driver the shared store code runs on: it binds and decodes `TEXT`, `BIGINT` and
/// booleans, finds columns by name and by position, and runs statements on a connection.
///
/// Implemented for every driver that can (a blanket impl), so generic code needs only
/// `D: Sql` (or [`Dialect`](super::Dialect)) instead of repeating sqlx's bounds.
pub(crate) trait Sql: Database<Arguments: IntoArguments<Self>, Row: Fields> {
    /// `conn` as an executor: a statement on it runs in the transaction `conn` is in.
    fn on<'c>(conn: &'c mut Self::Connection) -> impl Executor<'c, Database = Self>;
    /// Binds a text value (`None`: NULL).
    fn bind_text<'q>(
        query: Query<'q, Self, Self::Arguments>,
        value: Option<&str>,
    ) -> Query<'q, Self, Self::Arguments>;
    /// Binds an owned text value (`None`: NULL), without copying it.
    fn bind_string<'q>(
        query: Query<'q, Self, Self::Arguments>,
        value: Option<String>,
    ) -> Query<'q, Self, Self::Arguments>;
    /// Binds an integer (`None`: NULL).
    fn bind_int<'q>(
        query: Query<'q, Self, Self::Arguments>,
        value: Option<i64>,
    ) -> Query<'q, Self, Self::Arguments>;
    /// Binds a boolean (`None`: NULL).
    fn bind_flag<'q>(
        query: Query<'q, Self, Self::Arguments>,
        value: Option<bool>,
    ) -> Query<'q, Self, Self::Arguments>;
}

impl<D> Sql for D
where
    D: Database<Arguments: IntoArguments<D>, Row: Fields>,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'t> Option<&'t str>: Encode<'t, D> + Type<D>,
    for<'t> Option<String>: Encode<'t, D> + Type<D>,
    for<'t> Option<i64>: Encode<'t, D> + Type<D>,
    for<'t> Option<bool>: Encode<'t, D> + Type<D>,
{
    fn on<'c>(conn: &'c mut D::Connection) -> impl Executor<'c, Database = D> {
        conn
    }

    fn bind_text<'q>(
        query: Query<'q, D, D::Arguments>,
        value: Option<&str>,
    ) -> Query<'q, D, D::Arguments> {
        query.bind(value)
    }

    fn bind_string<'q>(
        query: Query<'q, D, D::Arguments>,
        value: Option<String>,
    ) -> Query<'q, D, D::Arguments> {
        query.bind(value)
    }

    fn bind_int<'q>(
        query: Query<'q, D, D::Arguments>,
        value: Option<i64>,
    ) -> Query<'q, D, D::Arguments> {
        query.bind(value)
    }

    fn bind_flag<'q>(
        query: Query<'q, D, D::Arguments>,
        value: Option<bool>,
    ) -> Query<'q, D, D::Arguments> {
        query.bind(value)
    }
}

/// Binding the schema's column types, on a query of any [`Sql`] driver.
pub(crate) trait Bind: Sized {
    /// Binds a text value; `None` is NULL.
    fn text<'v>(self, value: impl Into<Option<&'v str>>) -> Self;
    /// Binds an owned text value (moved, not copied); `None` is NULL.
    fn string(self, value: impl Into<Option<String>>) -> Self;
    /// Binds an integer; `None` is NULL.
    fn int(self, value: impl Into<Option<i64>>) -> Self;
    /// Binds a boolean; `None` is NULL.
    fn flag(self, value: impl Into<Option<bool>>) -> Self;
}

impl<'q, D: Sql> Bind for Query<'q, D, D::Arguments> {
    fn text<'v>(self, value: impl Into<Option<&'v str>>) -> Self {
        D::bind_text(self, value.into())
    }

    fn string(self, value: impl Into<Option<String>>) -> Self {
        D::bind_string(self, value.into())
    }

    fn int(self, value: impl Into<Option<i64>>) -> Self {
        D::bind_int(self, value.into())
    }

    fn flag(self, value: impl Into<Option<bool>>) -> Self {
        D::bind_flag(self, value.into())
    }
}

/// A column of a row: by position or by name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Column<'a> {
    At(usize),
    Named(&'a str),
}

impl From<usize> for Column<'_> {
    fn from(index: usize) -> Self {
        Column::At(index)
    }
}

impl<'a> From<&'a str> for Column<'a> {
    fn from(name: &'a str) -> Self {
        Column::Named(name)
    }
}

/// Reading the schema's column types from a row, by name or by position; a value that does not
/// decode is a store error, never a panic.
pub(crate) trait Fields: Row {
    /// A text column.
    fn text<'a>(&self, column: impl Into<Column<'a>>) -> Result<String, Error>;
    /// A text column that may be NULL.
    fn opt_text<'a>(&self, column: impl Into<Column<'a>>) -> Result<Option<String>, Error>;
    /// An integer column.
    fn int<'a>(&self, column: impl Into<Column<'a>>) -> Result<i64, Error>;
    /// An integer column that may be NULL.
    fn opt_int<'a>(&self, column: impl Into<Column<'a>>) -> Result<Option<i64>, Error>;
    /// A boolean column.
    fn flag<'a>(&self, column: impl Into<Column<'a>>) -> Result<bool, Error>;
}

/// Column `column` of `row`, decoded.
fn get<R, T>(row: &R, column: Column<'_>) -> Result<T, Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'a> &'a str: ColumnIndex<R>,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    match column {
        Column::At(index) => row.try_get(index),
        Column::Named(name) => row.try_get(name),
    }
    .map_err(Error::store)
}

impl<R> Fields for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'a> &'a str: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    bool: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn text<'a>(&self, column: impl Into<Column<'a>>) -> Result<String, Error> {
        get(self, column.into())
    }

    fn opt_text<'a>(&self, column: impl Into<Column<'a>>) -> Result<Option<String>, Error> {
        get(self, column.into())
    }

    fn int<'a>(&self, column: impl Into<Column<'a>>) -> Result<i64, Error> {
        get(self, column.into())
    }

    fn opt_int<'a>(&self, column: impl Into<Column<'a>>) -> Result<Option<i64>, Error> {
        get(self, column.into())
    }

    fn flag<'a>(&self, column: impl Into<Column<'a>>) -> Result<bool, Error> {
        get(self, column.into())
    }
}

/// One value of a [`Statement`].
#[derive(Debug, Clone)]
enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Flag(bool),
}

/// A statement of a [`Dialect`](super::Dialect) with its parameters, chosen by shared code
/// and run by a backend (SQLite's group commit builds its query again if it reruns a batch).
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    sql: &'static str,
    params: Vec<Param>,
}

impl Statement {
    /// `sql`, with no parameters yet.
    pub(crate) fn new(sql: &'static str) -> Self {
        Statement {
            sql,
            params: Vec::new(),
        }
    }

    /// Adds a text parameter.
    pub(crate) fn text(mut self, value: impl Into<Option<String>>) -> Self {
        self.params.push(Param::Text(value.into()));
        self
    }

    /// Adds a hash parameter, as hex.
    pub(crate) fn hash(self, hash: &TokenHash) -> Self {
        self.text(hash.to_hex())
    }

    /// Adds an integer parameter.
    pub(crate) fn int(mut self, value: impl Into<Option<i64>>) -> Self {
        self.params.push(Param::Int(value.into()));
        self
    }

    /// Adds a boolean parameter.
    pub(crate) fn flag(mut self, value: bool) -> Self {
        self.params.push(Param::Flag(value));
        self
    }

    /// The query, every parameter moved into it.
    pub(crate) fn into_query<D: Sql>(self) -> Query<'static, D, D::Arguments> {
        self.params
            .into_iter()
            .fold(sqlx::query(self.sql), |query, param| match param {
                Param::Text(value) => query.string(value),
                Param::Int(value) => query.int(value),
                Param::Flag(value) => query.flag(value),
            })
    }

    /// The query, every parameter bound (copied: a statement group commit may run again).
    #[cfg(feature = "sqlite")]
    pub(crate) fn query<D: Sql>(&self) -> Query<'static, D, D::Arguments> {
        self.params
            .iter()
            .fold(sqlx::query(self.sql), |query, param| match param {
                Param::Text(value) => query.text(value.as_deref()),
                Param::Int(value) => query.int(*value),
                Param::Flag(value) => query.flag(*value),
            })
    }
}
