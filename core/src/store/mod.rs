//! The database behind [`Lux`]: connecting to SQLite or PostgreSQL, migrating, and the write transaction.

mod convert;
mod paging;
mod write;

use std::sync::Arc;
use std::time::Duration;

use lux_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

pub(crate) use convert::*;
pub(crate) use paging::*;
pub(crate) use write::*;

use crate::clock::{Clock, IdGen, SystemClock, UuidV7};
use crate::domain::ProjectId;
use crate::error::{Error, Result};
use crate::live::EventBus;

/// The default database when none is configured: an embedded SQLite file under `./lux-data`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./lux-data/lux.db";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::invalid(
                "database_url",
                "must start with sqlite: or postgres:// (MySQL is not supported)",
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    pub url: String,
    /// Apply pending migrations when opening; when false, a database that is behind is refused.
    pub migrate: bool,
    pub max_connections: u32,
    /// How long a SQLite writer waits for another process's write lock before failing.
    pub busy_timeout: Duration,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
}

impl DatabaseOptions {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseOptions {
            url: url.into(),
            migrate: true,
            max_connections: 8,
            busy_timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
        }
    }
}

/// Opens a connection pool with the settings Lux relies on: for SQLite, a created-if-missing
/// file in WAL mode with `synchronous=NORMAL`, a busy timeout and foreign keys on.
pub async fn connect(options: &DatabaseOptions) -> Result<DatabaseConnection> {
    connect_with_foreign_keys(options, true).await
}

/// Drops every table (Lux's and any other) and migrates from scratch. SQLite cannot drop a
/// referenced table while enforcing foreign keys, so this uses a connection that does not.
pub async fn fresh_schema(options: &DatabaseOptions) -> Result<()> {
    let db = connect_with_foreign_keys(options, false).await?;
    Migrator::fresh(&db).await?;
    db.close().await?;
    Ok(())
}

async fn connect_with_foreign_keys(
    options: &DatabaseOptions,
    foreign_keys: bool,
) -> Result<DatabaseConnection> {
    let backend = Backend::of_url(&options.url)?;
    if backend == Backend::Sqlite {
        create_sqlite_parent_dir(&options.url)?;
    }
    // A SQLite writer may wait out another process's lock (`busy_timeout`); a PostgreSQL server
    // that does not answer within seconds is down, and callers should hear so (503) rather
    // than hang.
    let (connect_timeout, acquire_timeout) = match backend {
        Backend::Sqlite => (
            Duration::from_secs(10),
            options.busy_timeout + Duration::from_secs(5),
        ),
        Backend::Postgres => (Duration::from_secs(3), Duration::from_secs(5)),
    };
    let mut connect = ConnectOptions::new(options.url.clone());
    connect
        .max_connections(options.max_connections.max(1))
        .min_connections(1)
        .connect_timeout(connect_timeout)
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false);
    let busy_timeout = options.busy_timeout;
    connect.map_sqlx_sqlite_opts(move |sqlite| {
        sqlite
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(foreign_keys)
            // Savepoint journals (a batch or an import chunk written item by item) and the
            // reports' grouping and distinct-counting b-trees stay in memory instead of going
            // through a temporary file.
            .pragma("temp_store", "memory")
    });
    Database::connect(connect).await.map_err(Error::Storage)
}

fn create_sqlite_parent_dir(url: &str) -> Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|error| {
            Error::invalid(
                "database_url",
                format!("cannot create directory {}: {error}", parent.display()),
            )
        })?;
    }
    Ok(())
}

/// Creates an empty database named `name` on the PostgreSQL server at `server_url` and returns its URL.
/// For scratch databases (tests, benchmarks); `name` must be a plain identifier.
pub async fn create_postgres_database(server_url: &str, name: &str) -> Result<String> {
    let name = crate::domain::identifier("database name", name)?;
    if name.contains(['.', ':', '-']) {
        return Err(Error::invalid("database name", "use only a-z, 0-9 and '_'"));
    }
    let admin = Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await?;
    Ok(with_database(server_url, &name))
}

/// The URL of database `name` on the PostgreSQL server at `server_url`, creating it first when the
/// server has none of that name: for a history kept between benchmark runs.
pub async fn ensure_postgres_database(server_url: &str, name: &str) -> Result<String> {
    let name = crate::domain::identifier("database name", name)?;
    let admin = Database::connect(server_url).await?;
    let found = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?;
    admin.close().await?;
    match found {
        Some(_) => Ok(with_database(server_url, &name)),
        None => create_postgres_database(server_url, &name).await,
    }
}

/// Drops a scratch database made by [`create_postgres_database`], even while others are connected to it.
pub async fn drop_postgres_database(server_url: &str, name: &str) -> Result<()> {
    let name = crate::domain::identifier("database name", name)?;
    let admin = Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.close().await?;
    Ok(())
}

/// The server URL with its database name replaced.
pub(crate) fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Lux on one database: every service is a method on this.
#[derive(Debug, Clone)]
pub struct Lux {
    db: DatabaseConnection,
    backend: Backend,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    bus: EventBus,
    default_project: ProjectId,
    /// Detectors and monitor run on every step written (see `services::analysis`).
    pub(crate) analysis: Arc<crate::detect::DetectorRegistry>,
    /// The analysis queue's in-process side (see `services::analysis_queue`).
    pub(crate) queue: Arc<crate::services::analysis_queue::QueueState>,
}

impl Lux {
    /// Connects, migrates (unless told not to), and makes sure the default project and price list exist.
    pub async fn open(options: DatabaseOptions) -> Result<Lux> {
        let db = connect(&options).await?;
        if options.migrate {
            Migrator::up(&db, None).await?;
        } else {
            let pending = Migrator::get_pending_migrations(&db).await?;
            if !pending.is_empty() {
                return Err(Error::invalid(
                    "database",
                    format!(
                        "schema is {} migration(s) behind; run `lux migrate up`",
                        pending.len()
                    ),
                ));
            }
        }
        Lux::from_connection(db, options.clock, options.ids).await
    }

    /// Wraps an already migrated connection.
    pub async fn from_connection(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
    ) -> Result<Lux> {
        let backend = match db.get_database_backend() {
            DbBackend::Sqlite => Backend::Sqlite,
            DbBackend::Postgres => Backend::Postgres,
            _ => {
                return Err(Error::invalid(
                    "database_url",
                    "unsupported database backend",
                ));
            }
        };
        let mut lux = Lux {
            db,
            backend,
            clock,
            ids,
            bus: EventBus::default(),
            default_project: ProjectId(uuid::Uuid::nil()),
            analysis: Arc::new(crate::detect::DetectorRegistry::builtin()),
            queue: Arc::default(),
        };
        lux.default_project = lux.ensure_default_project().await?;
        lux.seed_shipped_prices().await?;
        if let Err(error) = lux.refresh_planner_statistics().await {
            // A read-only file, or a writer holding the lock past the busy timeout: the queries
            // still run, on plans chosen without statistics.
            tracing::warn!(%error, "could not refresh SQLite's planner statistics");
        }
        Ok(lux)
    }

    /// Has SQLite take planner statistics (`ANALYZE`, sampled) of every table that has none yet or
    /// has grown or shrunk tenfold since they were taken; a no-op otherwise, and on PostgreSQL,
    /// whose autovacuum keeps its own. Without statistics SQLite's planner guesses, and at a
    /// million steps it guessed wrong for the analytics' partial-day reads (every step of the
    /// project walked instead of those of the day's sessions: 203 ms instead of 115 ms p95).
    /// Run at open, after bulk writes (imports, benchmark fills) and hourly by `lux serve`.
    pub async fn refresh_planner_statistics(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            // 0x10002: analyze where worthwhile, checking every table, not only those this
            // connection has queried.
            self.db
                .execute_unprepared("PRAGMA optimize=0x10002")
                .await?;
        }
        Ok(())
    }

    /// A handle on no database, for code that needs `Lux`'s type but never its data (printing the
    /// API spec). Every operation on it fails with a storage error.
    pub fn detached() -> Lux {
        Lux {
            db: DatabaseConnection::default(),
            backend: Backend::Sqlite,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
            bus: EventBus::default(),
            default_project: ProjectId(uuid::Uuid::nil()),
            analysis: Arc::new(crate::detect::DetectorRegistry::empty()),
            queue: Arc::default(),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn events(&self) -> &EventBus {
        &self.bus
    }

    /// The project requests run as when auth is off (a newcomer's first run).
    pub fn default_project(&self) -> ProjectId {
        self.default_project
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub(crate) fn new_id(&self) -> uuid::Uuid {
        self.ids.new_id()
    }

    /// A write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so a
    /// read-then-write inside it can never fail half-way with a busy snapshot.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.db.execute_unprepared("SELECT 1").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_in_a_server_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1:5432?sslmode=disable", "x"),
            "postgres://127.0.0.1:5432/x?sslmode=disable"
        );
    }
}
