//! Test support: a fresh database per test, a SQLite file always and a PostgreSQL database when
//! `LUX_TEST_DATABASE_URL` names a server, so tests run in parallel without sharing state.

use crate::store::{DatabaseOptions, Lux, create_postgres_database, drop_postgres_database};

/// A database that lives as long as this value (the SQLite file's folder is removed on drop).
#[derive(Debug)]
pub struct TestDb {
    pub lux: Lux,
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/lux.db", dir.path().display());
        let lux = Lux::open(DatabaseOptions::new(&url))
            .await
            .expect("open a fresh SQLite database");
        TestDb {
            lux,
            url,
            postgres_name: None,
            _dir: Some(dir),
        }
    }

    /// A new, empty database on the server at `LUX_TEST_DATABASE_URL`.
    pub async fn postgres() -> TestDb {
        let (url, name) = Self::create_postgres_database().await;
        let lux = Lux::open(DatabaseOptions::new(&url))
            .await
            .expect("open a fresh PostgreSQL database");
        TestDb {
            lux,
            url,
            postgres_name: Some(name),
            _dir: None,
        }
    }

    /// A URL to a new, empty, unmigrated PostgreSQL database, and its name.
    pub async fn create_postgres_database() -> (String, String) {
        let name = format!("lux_test_{}", uuid::Uuid::now_v7().simple());
        let url = create_postgres_database(&server_url(), &name)
            .await
            .expect("create a test database on LUX_TEST_DATABASE_URL");
        (url, name)
    }

    /// Drops a PostgreSQL test database; called at the end of a passing test (a failing one is kept to inspect).
    pub async fn cleanup(self) {
        let Some(name) = self.postgres_name else {
            return;
        };
        self.lux.db().clone().close().await.ok();
        drop_postgres_database(&server_url(), &name).await.ok();
    }
}

fn server_url() -> String {
    std::env::var("LUX_TEST_DATABASE_URL")
        .expect("LUX_TEST_DATABASE_URL must name a PostgreSQL server for PostgreSQL tests")
}

/// Declares each listed `async fn name(lux: &Lux)` as a test on SQLite and, when configured, on PostgreSQL
/// (test names `sqlite::name` and `postgres::name`, so the log shows both ran).
#[macro_export]
macro_rules! storage_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::sqlite().await;
                    super::$name(&db.lux).await;
                    db.cleanup().await;
                }
            )*
        }
        #[cfg(lux_postgres_tests)]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::postgres().await;
                    super::$name(&db.lux).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// What the fuzz targets in `fuzz/` check for any input, shared with the test that replays their
/// committed seeds (`core/tests/it/fuzz_seeds.rs`), so a crash found once stays a regression test.
pub mod fuzz {
    use crate::domain::ExportRecord;
    use crate::services::import::{RecordSplitter, split_records};
    use crate::synthesis::{SynthesisUpdate, parse_update};

    /// Parsing an LLM answer never panics; an update it accepts passes validation and reads back
    /// the same from the canonical JSON that is stored.
    pub fn synthesis_parser(text: &str) {
        if let Ok(update) = parse_update(text) {
            update
                .validate()
                .expect("a parsed update is a valid update");
            let stored = update.to_json();
            let reread: SynthesisUpdate =
                serde_json::from_value(stored.clone()).expect("the stored JSON reads back");
            assert_eq!(reread.to_json(), stored, "the stored JSON is stable");
        }
    }

    /// Cutting an import file into records never panics and does not depend on how the bytes
    /// arrive; every record is a piece of the file on a line that exists, and decoding a record
    /// never panics either.
    pub fn import_reader(bytes: &[u8]) {
        let whole = split_records(bytes);
        // The same file fed in pieces of a size the input chooses.
        let piece = usize::from(bytes.first().copied().unwrap_or(1)).max(1);
        let mut splitter = RecordSplitter::new();
        let mut pieces = Vec::new();
        let fed = bytes
            .chunks(piece)
            .try_for_each(|chunk| splitter.feed(chunk, &mut pieces))
            .and_then(|()| splitter.finish(&mut pieces));
        match (&whole, fed) {
            (Ok(records), Ok(())) => assert_eq!(records, &pieces, "pieces of {piece} bytes"),
            (Err(_), Err(_)) => {}
            (whole, fed) => panic!("whole: {whole:?}, in pieces of {piece}: {fed:?}"),
        }
        let Ok(records) = whole else { return };
        let lines = bytes.split(|byte| *byte == b'\n').count() as u64;
        for record in records {
            assert!(
                (1..=lines).contains(&record.line),
                "line {} of {lines}",
                record.line
            );
            if let Ok(text) = record.text {
                assert!(
                    bytes
                        .windows(text.len().max(1))
                        .any(|window| text.is_empty() || window == text.as_bytes()),
                    "{text:?} is not in the file"
                );
                let _ = serde_json::from_str::<ExportRecord>(&text);
            }
        }
    }
}
