//! Full-text search over step content and synthesis understanding: FTS5 on SQLite, GIN-indexed
//! `tsvector` expressions on PostgreSQL.
//!
//! Only the first [`SEARCH_PREFIX_CHARS`] characters of each text are indexed: PostgreSQL refuses a
//! `tsvector` above 1 MB, which a 1 MiB step of distinct words could reach, and both backends index
//! the same prefix so that they find the same things.
//!
//! SQLite: `search_documents` holds one row per searchable text (a step, or a synthesis version
//! with an understanding), with its own stable integer key, and `search_fts` is an FTS5
//! external-content index over it (`unicode61`, diacritics folded, so German and French words
//! match with or without accents). Triggers on `steps` and `synthesis_versions` keep the documents
//! in step with every write path, including cascading deletes; triggers on `search_documents`
//! keep the index in step with the documents. A document table rather than an index straight on
//! `steps` because an external-content FTS5 table is addressed by rowid, which `VACUUM` may
//! renumber in tables without an integer primary key.
//!
//! PostgreSQL: expression GIN indexes on `to_tsvector('simple', left(text, N))`, so there is no
//! copy of the text to keep in sync; queries repeat the exact expression to use them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// How many characters of each text are searchable (see the module comment). Queries in
/// `lux-core`'s search service use the same figure.
pub const SEARCH_PREFIX_CHARS: i64 = 262_144;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE search_documents (
    id INTEGER PRIMARY KEY,
    source_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);"#,
    r#"CREATE UNIQUE INDEX idx_search_documents_source_id ON search_documents (source_id);"#,
    r#"CREATE INDEX idx_search_documents_session_id ON search_documents (session_id);"#,
    r#"CREATE VIRTUAL TABLE search_fts USING fts5(
    body,
    content = 'search_documents',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);"#,
    r#"CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_fts (rowid, body) VALUES (new.id, new.body);
END;"#,
    r#"CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;"#,
    r#"CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO search_fts (rowid, body) VALUES (new.id, new.body);
END;"#,
    r#"CREATE TRIGGER search_steps_ai AFTER INSERT ON steps BEGIN
    INSERT INTO search_documents (source_id, session_id, kind, body)
    VALUES (new.id, new.session_id, 'step', substr(new.content, 1, 262144));
END;"#,
    r#"CREATE TRIGGER search_steps_ad AFTER DELETE ON steps BEGIN
    DELETE FROM search_documents WHERE source_id = old.id;
END;"#,
    r#"CREATE TRIGGER search_steps_au AFTER UPDATE OF content ON steps BEGIN
    UPDATE search_documents SET body = substr(new.content, 1, 262144) WHERE source_id = old.id;
END;"#,
    r#"CREATE TRIGGER search_synthesis_ai AFTER INSERT ON synthesis_versions
WHEN new.current_understanding IS NOT NULL BEGIN
    INSERT INTO search_documents (source_id, session_id, kind, body)
    VALUES (new.id, new.session_id, 'synthesis', substr(new.current_understanding, 1, 262144));
END;"#,
    r#"CREATE TRIGGER search_synthesis_ad AFTER DELETE ON synthesis_versions BEGIN
    DELETE FROM search_documents WHERE source_id = old.id;
END;"#,
    r#"CREATE TRIGGER search_synthesis_au AFTER UPDATE OF current_understanding ON synthesis_versions BEGIN
    DELETE FROM search_documents WHERE source_id = old.id;
    INSERT INTO search_documents (source_id, session_id, kind, body)
    SELECT new.id, new.session_id, 'synthesis', substr(new.current_understanding, 1, 262144)
    WHERE new.current_understanding IS NOT NULL;
END;"#,
    r#"INSERT INTO search_documents (source_id, session_id, kind, body)
SELECT id, session_id, 'step', substr(content, 1, 262144) FROM steps;"#,
    r#"INSERT INTO search_documents (source_id, session_id, kind, body)
SELECT id, session_id, 'synthesis', substr(current_understanding, 1, 262144)
FROM synthesis_versions WHERE current_understanding IS NOT NULL;"#,
];

const SQLITE_DOWN: &[&str] = &[
    r#"DROP TRIGGER IF EXISTS search_synthesis_au;"#,
    r#"DROP TRIGGER IF EXISTS search_synthesis_ad;"#,
    r#"DROP TRIGGER IF EXISTS search_synthesis_ai;"#,
    r#"DROP TRIGGER IF EXISTS search_steps_au;"#,
    r#"DROP TRIGGER IF EXISTS search_steps_ad;"#,
    r#"DROP TRIGGER IF EXISTS search_steps_ai;"#,
    r#"DROP TRIGGER IF EXISTS search_documents_au;"#,
    r#"DROP TRIGGER IF EXISTS search_documents_ad;"#,
    r#"DROP TRIGGER IF EXISTS search_documents_ai;"#,
    r#"DROP TABLE IF EXISTS search_fts;"#,
    r#"DROP TABLE IF EXISTS search_documents;"#,
];

const POSTGRES_UP: &[&str] = &[
    r#"CREATE INDEX idx_steps_search ON steps
    USING GIN (to_tsvector('simple'::regconfig, left(content, 262144)));"#,
    r#"CREATE INDEX idx_synthesis_versions_search ON synthesis_versions
    USING GIN (to_tsvector('simple'::regconfig, left(coalesce(current_understanding, ''), 262144)));"#,
];

const POSTGRES_DOWN: &[&str] = &[
    r#"DROP INDEX IF EXISTS idx_synthesis_versions_search;"#,
    r#"DROP INDEX IF EXISTS idx_steps_search;"#,
];

/// One statement at a time: SQLite runs only the first statement of a multi-statement string here.
async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for statement in statements {
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        run(manager, statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_DOWN,
            _ => SQLITE_DOWN,
        };
        run(manager, statements).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_uses_the_documented_prefix() {
        let prefix = SEARCH_PREFIX_CHARS.to_string();
        for statements in [SQLITE_UP, POSTGRES_UP] {
            let sql = statements.concat();
            assert!(sql.contains(&prefix));
            assert!(!sql.replace(&prefix, "").contains("26214"));
        }
    }
}
