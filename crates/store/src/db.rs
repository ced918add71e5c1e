//! The two database engines under the store, each through its native driver:
//!
//! - **SQLite** through `rusqlite` (bundled SQLite with FTS5). One writer
//!   connection, taken in turn by write transactions that share one COMMIT
//!   when they queue (group commit, see [`SqliteDb::begin`]), and a small set
//!   of reader connections. Statements run on the calling thread: a point read from the
//!   page cache takes microseconds, less than any hand-off to another thread
//!   would. Prepared statements are cached per connection.
//! - **PostgreSQL** through sqlx's native `PgPool` (prepared statements cached
//!   per connection).
//!
//! The store's SQL is written once where the dialects agree (`$N` parameters,
//! `ON CONFLICT`, `RETURNING`); this module gives it a small query API in the
//! shape of sqlx's (`query(..).bind(..).fetch_all(ex)`), decoding rows straight
//! from each driver's row type, with no intermediate dynamic value.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::{AssertSqlSafe, Row as _};

/// An error from either driver, or from decoding a row.
#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Pg(sqlx::Error),
    /// A row that does not hold what the code expected.
    Decode(String),
    /// `fetch_one` found nothing.
    NotFound,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "sqlite: {e}"),
            DbError::Pg(e) => write!(f, "postgres: {e}"),
            DbError::Decode(m) => write!(f, "decoding a row: {m}"),
            DbError::NotFound => f.write_str("no row"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => DbError::NotFound,
            e => DbError::Sqlite(e),
        }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            e => DbError::Pg(e),
        }
    }
}

type DbResult<T> = std::result::Result<T, DbError>;

// --- Parameters -------------------------------------------------------------

/// A bound parameter, typed even when NULL (PostgreSQL wants to know).
#[derive(Debug, Clone)]
pub enum Param {
    I64(Option<i64>),
    I32(Option<i32>),
    Bool(Option<bool>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

/// What `bind` takes.
pub trait Encode {
    fn param(self) -> Param;
}

macro_rules! encode {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl Encode for $t {
            fn param(self) -> Param {
                let $v = self;
                $e
            }
        })*
    };
}

encode! {
    i64 => |v| Param::I64(Some(v)),
    &i64 => |v| Param::I64(Some(*v)),
    Option<i64> => |v| Param::I64(v),
    i32 => |v| Param::I32(Some(v)),
    Option<i32> => |v| Param::I32(v),
    bool => |v| Param::Bool(Some(v)),
    &str => |v| Param::Text(Some(v.to_owned())),
    &&str => |v| Param::Text(Some((*v).to_owned())),
    String => |v| Param::Text(Some(v)),
    &String => |v| Param::Text(Some(v.clone())),
    Option<&str> => |v| Param::Text(v.map(str::to_owned)),
    Option<String> => |v| Param::Text(v),
    &Option<String> => |v| Param::Text(v.clone()),
    Vec<u8> => |v| Param::Blob(Some(v)),
    &[u8] => |v| Param::Blob(Some(v.to_vec())),
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Param::I64(Some(v)) => ToSqlOutput::Owned(Value::Integer(*v)),
            Param::I32(Some(v)) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            Param::Bool(Some(v)) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            Param::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Blob(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            _ => ToSqlOutput::Owned(Value::Null),
        })
    }
}

fn bind_pg<'q>(
    q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    p: Param,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    match p {
        Param::I64(v) => q.bind(v),
        Param::I32(v) => q.bind(v),
        Param::Bool(v) => q.bind(v),
        Param::Text(v) => q.bind(v),
        Param::Blob(v) => q.bind(v),
    }
}

// --- Rows ---------------------------------------------------------------------

/// A row of either driver, read in place.
pub enum RowRef<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Pg(&'a PgRow),
}

/// A column type both drivers decode.
pub trait Col: Sized {
    fn sqlite(row: &rusqlite::Row<'_>, idx: ColIdx<'_>) -> DbResult<Self>;
    fn pg(row: &PgRow, idx: ColIdx<'_>) -> DbResult<Self>;
}

#[derive(Clone, Copy)]
pub enum ColIdx<'a> {
    At(usize),
    Named(&'a str),
}

fn decode_err(idx: ColIdx<'_>, e: impl std::fmt::Display) -> DbError {
    match idx {
        ColIdx::At(i) => DbError::Decode(format!("column {i}: {e}")),
        ColIdx::Named(n) => DbError::Decode(format!("column {n}: {e}")),
    }
}

fn sqlite_get<T: rusqlite::types::FromSql>(
    row: &rusqlite::Row<'_>,
    idx: ColIdx<'_>,
) -> DbResult<T> {
    match idx {
        ColIdx::At(i) => row.get(i),
        ColIdx::Named(n) => row.get(n),
    }
    .map_err(|e| decode_err(idx, e))
}

fn pg_get<T>(row: &PgRow, idx: ColIdx<'_>) -> DbResult<T>
where
    T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    match idx {
        ColIdx::At(i) => row.try_get(i),
        ColIdx::Named(n) => row.try_get(n),
    }
    .map_err(|e| decode_err(idx, e))
}

macro_rules! col {
    ($($t:ty),*) => {
        $(impl Col for $t {
            fn sqlite(row: &rusqlite::Row<'_>, idx: ColIdx<'_>) -> DbResult<Self> {
                sqlite_get(row, idx)
            }
            fn pg(row: &PgRow, idx: ColIdx<'_>) -> DbResult<Self> {
                pg_get(row, idx)
            }
        })*
    };
}

col!(
    i32,
    Option<i32>,
    bool,
    Option<bool>,
    String,
    Option<String>,
    Vec<u8>,
    Option<Vec<u8>>
);

// 64-bit integers also read PostgreSQL's 32-bit ones (`INTEGER` columns).
impl Col for i64 {
    fn sqlite(row: &rusqlite::Row<'_>, idx: ColIdx<'_>) -> DbResult<Self> {
        sqlite_get(row, idx)
    }
    fn pg(row: &PgRow, idx: ColIdx<'_>) -> DbResult<Self> {
        pg_get::<i64>(row, idx).or_else(|e| pg_get::<i32>(row, idx).map(i64::from).map_err(|_| e))
    }
}

impl Col for Option<i64> {
    fn sqlite(row: &rusqlite::Row<'_>, idx: ColIdx<'_>) -> DbResult<Self> {
        sqlite_get(row, idx)
    }
    fn pg(row: &PgRow, idx: ColIdx<'_>) -> DbResult<Self> {
        pg_get::<Option<i64>>(row, idx).or_else(|e| {
            pg_get::<Option<i32>>(row, idx)
                .map(|v| v.map(i64::from))
                .map_err(|_| e)
        })
    }
}

impl RowRef<'_> {
    pub fn get<T: Col>(&self, idx: usize) -> DbResult<T> {
        match self {
            RowRef::Sqlite(r) => T::sqlite(r, ColIdx::At(idx)),
            RowRef::Pg(r) => T::pg(r, ColIdx::At(idx)),
        }
    }

    pub fn get_named<T: Col>(&self, name: &str) -> DbResult<T> {
        match self {
            RowRef::Sqlite(r) => T::sqlite(r, ColIdx::Named(name)),
            RowRef::Pg(r) => T::pg(r, ColIdx::Named(name)),
        }
    }
}

/// A type built from one row.
pub trait FromRow: Sized {
    fn from_row(row: &RowRef<'_>) -> DbResult<Self>;
}

/// `FromRow` for a struct whose fields are named like its columns.
/// A field marked `#[flatten]` is itself built from the same row.
macro_rules! from_row {
    ($ty:ident { $($(#[$flat:ident])? $field:ident),* $(,)? }) => {
        impl $crate::db::FromRow for $ty {
            fn from_row(row: &$crate::db::RowRef<'_>) -> ::std::result::Result<Self, $crate::db::DbError> {
                Ok($ty { $($field: $crate::db::from_row_field!(row, $field $(, $flat)?)),* })
            }
        }
    };
}
macro_rules! from_row_field {
    ($row:ident, $field:ident, flatten) => {
        $crate::db::FromRow::from_row($row)?
    };
    ($row:ident, $field:ident) => {
        $row.get_named(stringify!($field))?
    };
}
pub(crate) use {from_row, from_row_field};

macro_rules! tuple_from_row {
    ($($name:ident $idx:tt),*) => {
        impl<$($name: Col),*> FromRow for ($($name,)*) {
            fn from_row(row: &RowRef<'_>) -> DbResult<Self> {
                Ok(($(row.get::<$name>($idx)?,)*))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// The first column alone, for `query_scalar`.
pub struct Scalar<T>(pub T);

impl<T: Col> FromRow for Scalar<T> {
    fn from_row(row: &RowRef<'_>) -> DbResult<Self> {
        row.get(0).map(Scalar)
    }
}

// --- The engines ----------------------------------------------------------------

/// Either engine's handle; cheap to clone.
#[derive(Clone)]
pub enum Db {
    Sqlite(Arc<SqliteDb>),
    Pg(PgPool),
}

/// SQLite: one writer, taken in turn, and readers taken without waiting when one is free.
pub struct SqliteDb {
    writer: Arc<WriterShared>,
    readers: Vec<std::sync::Mutex<Connection>>,
    next_reader: AtomicUsize,
    busy_readers: AtomicUsize,
    path: PathBuf,
}

/// The writer connection and the state of its group commit.
///
/// Write transactions take the writer in turn. Each runs inside a savepoint
/// of one open SQLite transaction; when it commits and nobody is waiting for
/// the writer, the SQLite transaction commits, with every write transaction
/// that ran in it since it began (a *batch*). When others are waiting, the
/// next one continues the same batch and the committer waits for the batch to
/// commit before it returns: nothing is acknowledged before its COMMIT, and
/// a queue of writers shares one COMMIT (one WAL append of each page they
/// touched) instead of paying one each.
struct WriterShared {
    conn: Arc<tokio::sync::Mutex<Writer>>,
    /// Tasks waiting to take the writer.
    queued: AtomicUsize,
    /// The newest batch number whose COMMIT has finished (or failed).
    committed: tokio::sync::watch::Sender<u64>,
    /// Recent batches whose COMMIT failed (their members get the error).
    failed: std::sync::Mutex<std::collections::VecDeque<u64>>,
}

/// The writer connection.
pub struct Writer {
    conn: Connection,
    /// A SQLite transaction is open (a batch is in progress).
    open: bool,
    /// The number of the open batch, or of the last one.
    batch: u64,
    /// Write transactions in the open batch so far.
    members: usize,
}

impl Writer {
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Most write transactions one COMMIT carries.
const MAX_BATCH: usize = 128;
/// How long a committed member waits before it checks that its batch still
/// has a writer to commit it (one that was waiting may have given up).
const BATCH_CHECK: Duration = Duration::from_millis(2);

/// Counts a task waiting for the writer until it has it (or gives up).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Queued(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WriterShared {
    /// Commits the open batch and tells its members.
    fn finish(&self, w: &mut Writer) -> DbResult<()> {
        if !w.open {
            return Ok(());
        }
        w.open = false;
        let result = w.conn.execute_batch("COMMIT");
        if result.is_err() {
            // Whatever SQLite left of the transaction goes.
            let _ = w.conn.execute_batch("ROLLBACK");
            let mut failed = match self.failed.lock() {
                Ok(f) => f,
                Err(poisoned) => poisoned.into_inner(),
            };
            failed.push_back(w.batch);
            while failed.len() > 256 {
                failed.pop_front();
            }
        }
        self.committed.send_replace(w.batch);
        result.map_err(DbError::from)
    }

    fn batch_failed(&self, batch: u64) -> bool {
        match self.failed.lock() {
            Ok(f) => f.contains(&batch),
            Err(poisoned) => poisoned.into_inner().contains(&batch),
        }
    }

    /// Waits until `batch` has committed; commits it itself if it is left
    /// open with nobody to finish it.
    async fn wait_committed(&self, batch: u64) -> DbResult<()> {
        let mut rx = self.committed.subscribe();
        loop {
            if *rx.borrow_and_update() >= batch {
                return if self.batch_failed(batch) {
                    Err(DbError::Decode(format!(
                        "the group commit of batch {batch} failed; nothing of it was stored"
                    )))
                } else {
                    Ok(())
                };
            }
            tokio::select! {
                _ = rx.changed() => {}
                _ = tokio::time::sleep(BATCH_CHECK) => {
                    if let Ok(mut w) = self.conn.try_lock()
                        && w.open
                        && w.batch == batch
                        && self.queued.load(Ordering::SeqCst) == 0
                    {
                        // Other members were told through `committed`.
                        let _ = self.finish(&mut w);
                    }
                }
            }
        }
    }
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;";

/// The database holds password hashes and email addresses: only its owner
/// may read it. A new file is created 0600 before SQLite opens it (SQLite
/// gives its `-wal` and `-shm` files the same mode); an existing one readable
/// by others is narrowed to 0600, with its `-wal` and `-shm` files.
#[cfg(unix)]
fn make_private(path: &std::path::Path, create: bool) -> DbResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e: std::io::Error| DbError::Decode(format!("{}: {e}", path.display()));
    if create && !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            // Another process created it first: narrow it below.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        files.push(PathBuf::from(p));
    }
    for file in files {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
            tracing::info!(file = %file.display(), "narrowed the database file to mode 0600");
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_: &std::path::Path, _: bool) -> DbResult<()> {
    Ok(())
}

fn open_sqlite(path: &PathBuf, create: bool) -> DbResult<Connection> {
    make_private(path, create)?;
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // Another process (a second `starling migrate`, a backup) may hold the
    // lock for a moment; wait for it rather than fail.
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(SQLITE_PRAGMAS)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl SqliteDb {
    /// Opens (creating if asked) the database file at `path` with `readers`
    /// reader connections.
    pub fn open(path: PathBuf, readers: usize, create: bool) -> DbResult<SqliteDb> {
        let writer = open_sqlite(&path, create)?;
        let readers = (0..readers.max(1))
            .map(|_| open_sqlite(&path, false).map(std::sync::Mutex::new))
            .collect::<DbResult<Vec<_>>>()?;
        Ok(SqliteDb {
            writer: Arc::new(WriterShared {
                conn: Arc::new(tokio::sync::Mutex::new(Writer {
                    conn: writer,
                    open: false,
                    batch: 0,
                    members: 0,
                })),
                queued: AtomicUsize::new(0),
                committed: tokio::sync::watch::channel(0).0,
                failed: std::sync::Mutex::new(std::collections::VecDeque::new()),
            }),
            readers,
            next_reader: AtomicUsize::new(0),
            busy_readers: AtomicUsize::new(0),
            path,
        })
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }

    /// Runs `f` on a reader connection: the first free one, or (when all are
    /// busy) the next in turn once it is free. Readers are never held across
    /// an await, so the wait is one statement's length.
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return self.with_reader(&conn, f);
            }
        }
        let conn = match self.readers[start % n].lock() {
            Ok(c) => c,
            // A panic while holding a reader leaves the connection usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        self.with_reader(&conn, f)
    }

    fn with_reader<R>(&self, conn: &Connection, f: impl FnOnce(&Connection) -> R) -> R {
        self.busy_readers.fetch_add(1, Ordering::Relaxed);
        let r = f(conn);
        self.busy_readers.fetch_sub(1, Ordering::Relaxed);
        r
    }

    /// Waits for the writer and opens a write transaction on it: a savepoint
    /// in the open batch, which it begins if there is none.
    pub async fn begin(&self) -> DbResult<SqliteTx> {
        let mut w = {
            let _queued = Queued::new(&self.writer.queued);
            self.writer.conn.clone().lock_owned().await
        };
        if !w.open {
            w.conn.execute_batch("BEGIN IMMEDIATE")?;
            w.open = true;
            w.batch += 1;
            w.members = 0;
        }
        if let Err(e) = w.conn.execute_batch("SAVEPOINT tx") {
            // Leave no batch open behind us.
            let _ = self.writer.finish(&mut w);
            return Err(e.into());
        }
        w.members += 1;
        Ok(SqliteTx {
            w: Some(w),
            shared: self.writer.clone(),
        })
    }

    /// The writer outside any transaction (migrations, maintenance); an open
    /// batch is committed first.
    pub async fn writer(&self) -> tokio::sync::OwnedMutexGuard<Writer> {
        let mut w = self.writer.conn.clone().lock_owned().await;
        let _ = self.writer.finish(&mut w);
        w
    }

    /// (busy, idle) connections, for metrics.
    pub fn usage(&self) -> (u32, u32) {
        let busy_readers = self.busy_readers.load(Ordering::Relaxed) as u32;
        let writer_busy = u32::from(self.writer.conn.try_lock().is_err());
        let total = self.readers.len() as u32 + 1;
        let busy = (busy_readers + writer_busy).min(total);
        (busy, total - busy)
    }
}

/// A write transaction on the SQLite writer (a savepoint in the open batch);
/// rolled back unless committed.
pub struct SqliteTx {
    w: Option<tokio::sync::OwnedMutexGuard<Writer>>,
    shared: Arc<WriterShared>,
}

impl SqliteTx {
    fn writer(&self) -> DbResult<&Writer> {
        self.w
            .as_deref()
            .ok_or_else(|| DbError::Decode("the transaction is over".into()))
    }

    /// Releases the savepoint, then commits the batch (when nobody else is
    /// waiting for the writer) or waits for the one who does.
    async fn commit(mut self) -> DbResult<()> {
        let Some(mut w) = self.w.take() else {
            return Ok(());
        };
        if let Err(e) = w.conn.execute_batch("RELEASE tx") {
            let _ = w.conn.execute_batch("ROLLBACK TO tx; RELEASE tx");
            let _ = self.shared.finish(&mut w);
            return Err(e.into());
        }
        let batch = w.batch;
        if self.shared.queued.load(Ordering::SeqCst) == 0 || w.members >= MAX_BATCH {
            return self.shared.finish(&mut w);
        }
        drop(w);
        self.shared.wait_committed(batch).await
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        let Some(mut w) = self.w.take() else {
            return;
        };
        if let Err(e) = w.conn.execute_batch("ROLLBACK TO tx; RELEASE tx") {
            tracing::warn!(error = %e, "rolling back a SQLite write transaction failed");
        }
        // The batch may hold others' work: commit it unless someone is next.
        if self.shared.queued.load(Ordering::SeqCst) == 0
            && let Err(e) = self.shared.finish(&mut w)
        {
            tracing::warn!(error = %e, "committing a SQLite batch failed");
        }
    }
}

/// A write transaction on either engine.
pub enum Tx {
    Sqlite(SqliteTx),
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> DbResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Pg(t) => Ok(t.commit().await?),
        }
    }
}

/// Where a statement runs: the engine (reads), or an open transaction.
pub enum Exec<'c> {
    Db(&'c Db),
    Tx(&'c mut Tx),
}

pub trait Executor<'c> {
    fn exec(self) -> Exec<'c>;
}

impl<'c> Executor<'c> for &'c Db {
    fn exec(self) -> Exec<'c> {
        Exec::Db(self)
    }
}

impl<'c> Executor<'c> for &'c mut Tx {
    fn exec(self) -> Exec<'c> {
        Exec::Tx(self)
    }
}

/// SQLite numbers its parameters `?N`; the store writes PostgreSQL's `$N`.
/// Quoted strings and identifiers are copied as they are.
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for (i, c) in sql.char_indices() {
        match quote {
            // A doubled quote inside a literal closes and reopens it: same result.
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn sqlite_prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    params: &[Param],
) -> DbResult<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql))?;
    if stmt.parameter_count() != params.len() {
        return Err(DbError::Decode(format!(
            "the statement takes {} parameters, {} were bound: {sql}",
            stmt.parameter_count(),
            params.len()
        )));
    }
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, p)?;
    }
    Ok(stmt)
}

fn sqlite_rows<O: FromRow>(
    conn: &Connection,
    sql: &str,
    params: &[Param],
    max: usize,
) -> DbResult<Vec<O>> {
    let mut stmt = sqlite_prepare(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while out.len() < max {
        match rows.next()? {
            Some(row) => out.push(O::from_row(&RowRef::Sqlite(row))?),
            None => break,
        }
    }
    Ok(out)
}

fn sqlite_execute(conn: &Connection, sql: &str, params: &[Param]) -> DbResult<u64> {
    let mut stmt = sqlite_prepare(conn, sql, params)?;
    // A statement with RETURNING yields rows; step through them all.
    if stmt.column_count() > 0 {
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
        return Ok(conn.changes());
    }
    Ok(stmt.raw_execute()? as u64)
}

// --- Queries ------------------------------------------------------------------

/// A statement and its parameters.
pub struct Query {
    sql: Cow<'static, str>,
    params: Vec<Param>,
}

/// The result of an `execute`.
pub struct Done(u64);

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.0
    }
}

pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        params: Vec::new(),
    }
}

pub fn query_as<O: FromRow>(sql: impl Into<Cow<'static, str>>) -> QueryAs<O> {
    QueryAs {
        q: query(sql),
        _o: PhantomData,
    }
}

pub fn query_scalar<T: Col>(sql: impl Into<Cow<'static, str>>) -> QueryScalar<T> {
    QueryScalar { q: query_as(sql) }
}

impl Query {
    pub fn bind(mut self, v: impl Encode) -> Self {
        self.params.push(v.param());
        self
    }

    fn pg(self) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
        let sql: Cow<'static, str> = self.sql;
        let mut q = sqlx::query::<Postgres>(AssertSqlSafe(sql));
        for p in self.params {
            q = bind_pg(q, p);
        }
        q
    }

    /// Runs a statement; returns how many rows it changed.
    pub async fn execute<'c>(self, ex: impl Executor<'c>) -> DbResult<Done> {
        let n = match ex.exec() {
            Exec::Db(Db::Sqlite(db)) => {
                // A write outside a transaction is one of its own.
                let tx = db.begin().await?;
                let n = sqlite_execute(tx.writer()?.conn(), &self.sql, &self.params)?;
                tx.commit().await?;
                n
            }
            Exec::Db(Db::Pg(pool)) => self.pg().execute(pool).await?.rows_affected(),
            Exec::Tx(Tx::Sqlite(t)) => sqlite_execute(t.writer()?.conn(), &self.sql, &self.params)?,
            Exec::Tx(Tx::Pg(t)) => self.pg().execute(&mut **t).await?.rows_affected(),
        };
        Ok(Done(n))
    }

    async fn rows<'c, O: FromRow>(self, ex: impl Executor<'c>, max: usize) -> DbResult<Vec<O>> {
        match ex.exec() {
            Exec::Db(Db::Sqlite(db)) => db.read(|c| sqlite_rows(c, &self.sql, &self.params, max)),
            Exec::Tx(Tx::Sqlite(t)) => {
                sqlite_rows(t.writer()?.conn(), &self.sql, &self.params, max)
            }
            Exec::Db(Db::Pg(pool)) => pg_rows(self.pg().fetch_all(pool).await?, max),
            Exec::Tx(Tx::Pg(t)) => pg_rows(self.pg().fetch_all(&mut **t).await?, max),
        }
    }
}

fn pg_rows<O: FromRow>(rows: Vec<PgRow>, max: usize) -> DbResult<Vec<O>> {
    rows.iter()
        .take(max)
        .map(|r| O::from_row(&RowRef::Pg(r)))
        .collect()
}

/// A query whose rows become `O`s.
pub struct QueryAs<O> {
    q: Query,
    _o: PhantomData<fn() -> O>,
}

impl<O: FromRow> QueryAs<O> {
    pub fn bind(mut self, v: impl Encode) -> Self {
        self.q = self.q.bind(v);
        self
    }

    pub async fn fetch_all<'c>(self, ex: impl Executor<'c>) -> DbResult<Vec<O>> {
        self.q.rows(ex, usize::MAX).await
    }

    pub async fn fetch_optional<'c>(self, ex: impl Executor<'c>) -> DbResult<Option<O>> {
        Ok(self.q.rows(ex, 1).await?.pop())
    }

    pub async fn fetch_one<'c>(self, ex: impl Executor<'c>) -> DbResult<O> {
        self.fetch_optional(ex).await?.ok_or(DbError::NotFound)
    }
}

/// A query whose rows are one value each.
pub struct QueryScalar<T> {
    q: QueryAs<Scalar<T>>,
}

impl<T: Col> QueryScalar<T> {
    pub fn bind(mut self, v: impl Encode) -> Self {
        self.q = self.q.bind(v);
        self
    }

    pub async fn fetch_all<'c>(self, ex: impl Executor<'c>) -> DbResult<Vec<T>> {
        Ok(self
            .q
            .fetch_all(ex)
            .await?
            .into_iter()
            .map(|s| s.0)
            .collect())
    }

    pub async fn fetch_optional<'c>(self, ex: impl Executor<'c>) -> DbResult<Option<T>> {
        Ok(self.q.fetch_optional(ex).await?.map(|s| s.0))
    }

    pub async fn fetch_one<'c>(self, ex: impl Executor<'c>) -> DbResult<T> {
        Ok(self.q.fetch_one(ex).await?.0)
    }
}

/// Several statements with no parameters, in one go (migrations, maintenance).
pub async fn raw_sql<'c>(sql: &str, ex: impl Executor<'c>) -> DbResult<()> {
    match ex.exec() {
        Exec::Db(Db::Sqlite(db)) => {
            let tx = db.begin().await?;
            tx.writer()?.conn().execute_batch(sql)?;
            tx.commit().await?;
        }
        Exec::Tx(Tx::Sqlite(t)) => t.writer()?.conn().execute_batch(sql)?,
        Exec::Db(Db::Pg(pool)) => {
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await?;
        }
        Exec::Tx(Tx::Pg(t)) => {
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(&mut **t)
                .await?;
        }
    }
    Ok(())
}

impl Db {
    pub async fn begin(&self) -> DbResult<Tx> {
        match self {
            Db::Sqlite(db) => Ok(Tx::Sqlite(db.begin().await?)),
            Db::Pg(pool) => Ok(Tx::Pg(pool.begin().await?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_sql;

    #[test]
    fn dollar_parameters_become_numbered_question_marks() {
        assert_eq!(
            sqlite_sql("SELECT $1, $12 FROM t WHERE a = $2"),
            "SELECT ?1, ?12 FROM t WHERE a = ?2"
        );
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
        assert_eq!(
            sqlite_sql("SELECT '$1 a''$2', \"$3\" FROM t WHERE a = $4"),
            "SELECT '$1 a''$2', \"$3\" FROM t WHERE a = ?4"
        );
    }
}
