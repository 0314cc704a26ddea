//! Full-text search over step content and synthesis understanding, ranked, with highlighted snippets.
//!
//! The caller's text is never handed to a query parser. It is cut into words (runs of letters and
//! digits); every other character — quotes, `*`, `:`, `&|!`, parentheses — only separates words, and
//! operator names such as `OR` or `NEAR` are searched for as plain words. On SQLite each word goes
//! into an FTS5 `MATCH` as a quoted string (a bound value), on PostgreSQL the words go through
//! `plainto_tsquery('simple', …)`, which never fails on its input. All words must match.
//!
//! Scripts written without spaces (Chinese, Japanese, Korean, Thai) are one long token to both
//! tokenizers, so a word in such a script is matched as a case-sensitive substring of the indexed
//! text instead. Such a query scans the project's texts; only the other words use the index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::analytics::Sql;
use crate::store::Lux;

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1000;
/// Most words a query may have.
pub const MAX_QUERY_WORDS: usize = 32;
/// Most hits per page.
pub const MAX_SEARCH_LIMIT: u32 = 100;
pub const DEFAULT_SEARCH_LIMIT: u32 = 20;
/// Newest matching texts ranked first on SQLite (see `search_sqlite`).
const RANKED_WINDOW: i64 = 3_000;
/// Deepest offset a cursor may point to; refine the query instead of paging further.
pub const MAX_SEARCH_OFFSET: u32 = 10_000;

const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';
/// Stand-ins for `<` and `>` in text given to PostgreSQL's `ts_headline`.
const LESS_THAN: char = '\u{E002}';
const GREATER_THAN: char = '\u{E003}';

/// A query cut into what the index can match and what must be matched as substrings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedQuery {
    /// Words for the full-text index.
    pub(crate) words: Vec<String>,
    /// Words in scripts without spaces, matched as substrings.
    pub(crate) substrings: Vec<String>,
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}'      // Thai, Lao
        | '\u{1100}'..='\u{11FF}'    // Hangul Jamo
        | '\u{3040}'..='\u{30FF}'    // Hiragana, Katakana
        | '\u{3130}'..='\u{318F}'    // Hangul compatibility Jamo
        | '\u{31F0}'..='\u{31FF}'    // Katakana extensions
        | '\u{3400}'..='\u{4DBF}'    // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'    // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}'    // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'    // CJK compatibility ideographs
        | '\u{FF66}'..='\u{FF9D}'    // half-width Katakana
        | '\u{20000}'..='\u{2FFFF}') // CJK extensions B and later
}

/// Cuts the caller's text into words; refuses text with nothing to search for.
pub(crate) fn parse_query(text: &str) -> Result<ParsedQuery> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::invalid(
            "q",
            format!("is {} bytes, at most {MAX_QUERY_BYTES} allowed", text.len()),
        ));
    }
    let mut parsed = ParsedQuery {
        words: Vec::new(),
        substrings: Vec::new(),
    };
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        let list = if word.chars().any(is_unspaced_script) {
            &mut parsed.substrings
        } else {
            &mut parsed.words
        };
        if !list.iter().any(|known| known == word) {
            list.push(word.to_owned());
        }
    }
    let n_words = parsed.words.len() + parsed.substrings.len();
    if n_words == 0 {
        return Err(Error::invalid(
            "q",
            "has no letters or digits to search for",
        ));
    }
    if n_words > MAX_QUERY_WORDS {
        return Err(Error::invalid(
            "q",
            format!("has {n_words} words, at most {MAX_QUERY_WORDS} allowed"),
        ));
    }
    Ok(parsed)
}

impl ParsedQuery {
    /// An FTS5 query: each word a quoted string (words hold no `"`), all required.
    fn fts5(&self) -> String {
        self.words
            .iter()
            .map(|word| format!("\"{word}\""))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Text for `plainto_tsquery`, which ANDs its words and accepts anything.
    fn plain(&self) -> String {
        self.words.join(" ")
    }
}

/// The position after the last hit of a page. Opaque to clients.
fn decode_cursor(cursor: Option<&str>) -> Result<u32> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    cursor
        .strip_prefix('o')
        .and_then(|offset| offset.parse::<u32>().ok())
        .filter(|offset| *offset <= MAX_SEARCH_OFFSET)
        .ok_or_else(|| Error::invalid("cursor", "is not a cursor this server issued"))
}

fn search_limit(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_SEARCH_LIMIT),
        Some(limit @ 1..=MAX_SEARCH_LIMIT) => Ok(limit),
        Some(limit) => Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_SEARCH_LIMIT}, got {limit}"),
        )),
    }
}

fn escape_html(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            LESS_THAN => out.push_str("&lt;"),
            GREATER_THAN => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// Escapes a raw excerpt and turns the index's markers, and any substring words, into `<mark>`.
pub(crate) fn render_snippet(raw: &str, substrings: &[String]) -> String {
    let mut out = String::with_capacity(raw.len() + 32);
    let mut marked = false;
    for (i, part) in raw.split([MARK_START, MARK_END]).enumerate() {
        if i > 0 {
            // Markers alternate; a stray one in stored text only flips the highlighting.
            marked = !marked;
        }
        if marked {
            out.push_str("<mark>");
            escape_html(part, &mut out);
            out.push_str("</mark>");
        } else {
            mark_substrings(part, substrings, &mut out);
        }
    }
    out
}

fn mark_substrings(text: &str, substrings: &[String], out: &mut String) {
    let mut rest = text;
    loop {
        let next = substrings
            .iter()
            .filter_map(|word| rest.find(word.as_str()).map(|at| (at, word.len())))
            .min_by_key(|(at, len)| (*at, usize::MAX - len));
        match next {
            Some((at, len)) => {
                escape_html(&rest[..at], out);
                out.push_str("<mark>");
                escape_html(&rest[at..at + len], out);
                out.push_str("</mark>");
                rest = &rest[at + len..];
            }
            None => {
                escape_html(rest, out);
                return;
            }
        }
    }
}

/// One hit before its snippet is attached.
struct RawHit {
    doc: Option<i64>,
    kind: SearchKind,
    id: Uuid,
    session_id: SessionId,
    number: i32,
    created_at: DateTime<Utc>,
    rank: f64,
    snippet: Option<String>,
}

fn raw_hit(row: &QueryResult, with_doc: bool) -> Result<RawHit> {
    let kind: String = row.try_get("", "kind")?;
    let kind = match kind.as_str() {
        "step" => SearchKind::Step,
        _ => SearchKind::Synthesis,
    };
    Ok(RawHit {
        doc: if with_doc {
            Some(row.try_get("", "doc")?)
        } else {
            None
        },
        kind,
        id: row.try_get("", "source_id")?,
        session_id: SessionId(row.try_get("", "session_id")?),
        number: row.try_get("", "number")?,
        created_at: row.try_get("", "created_at")?,
        rank: row.try_get("", "score")?,
        snippet: if with_doc {
            None
        } else {
            row.try_get("", "snippet")?
        },
    })
}

/// Filters on the session (`s`) and the text's own row; `created_at` is the given expression.
fn push_filters(
    sql: &mut Sql,
    project: ProjectId,
    filter: &SearchFilter,
    created_at: &'static str,
) {
    sql.push(" AND s.project_id = ").bind(project.0);
    if let Some(session_id) = filter.session_id {
        sql.push(" AND s.id = ").bind(session_id.0);
    }
    if let Some(tool) = &filter.tool {
        sql.push(" AND s.tool = ").bind(tool.as_str());
    }
    if let Some(user_id) = &filter.user_id {
        sql.push(" AND s.user_id = ").bind(user_id.as_str());
    }
    if let Some(since) = filter.since {
        sql.push(" AND ").push(created_at).push(" >= ").bind(since);
    }
    if let Some(until) = filter.until {
        sql.push(" AND ").push(created_at).push(" < ").bind(until);
    }
}

impl Lux {
    /// Searches the project's steps and synthesis versions; best matches first.
    #[instrument(skip_all, fields(project = %project, query_bytes = query.len()))]
    pub async fn search(
        &self,
        project: ProjectId,
        query: &str,
        filter: &SearchFilter,
        page: &PageRequest,
    ) -> Result<Page<SearchHit>> {
        let parsed = parse_query(query)?;
        let limit = search_limit(page.limit)?;
        let offset = decode_cursor(page.cursor.as_deref())?;
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && until < since
        {
            return Err(Error::invalid("until", "is before since"));
        }
        let keys = [&filter.tool, &filter.user_id];
        if keys
            .iter()
            .any(|key| key.as_deref().is_some_and(|key| !could_be_stored(key)))
            || parsed.substrings.iter().any(|word| !could_be_stored(word))
        {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let mut hits = match self.db().get_database_backend() {
            DbBackend::Postgres => {
                self.search_postgres(project, &parsed, filter, limit, offset)
                    .await?
            }
            _ => {
                self.search_sqlite(project, &parsed, filter, limit, offset)
                    .await?
            }
        };
        let next_cursor = if hits.len() > limit as usize {
            hits.truncate(limit as usize);
            Some(format!("o{}", offset + limit))
        } else {
            None
        };
        let items = hits
            .into_iter()
            .map(|hit| SearchHit {
                session_id: hit.session_id,
                kind: hit.kind,
                id: hit.id,
                number: hit.number,
                snippet: render_snippet(hit.snippet.as_deref().unwrap_or(""), &parsed.substrings),
                rank: hit.rank,
                created_at: hit.created_at,
            })
            .collect();
        Ok(Page { items, next_cursor })
    }

    /// `limit + 1` hits from `offset`, with snippets. Ranking every match of a common word costs
    /// seconds at a million texts, so the newest [`RANKED_WINDOW`] matches (FTS5 walks its rowids
    /// newest first without ranking) are ranked first; only when they cannot fill the page — a
    /// selective filter, or a deep page — are all matches ranked.
    async fn search_sqlite(
        &self,
        project: ProjectId,
        parsed: &ParsedQuery,
        filter: &SearchFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<RawHit>> {
        let indexed = !parsed.words.is_empty();
        let mut floor = None;
        if indexed {
            let mut sql = Sql::new(DbBackend::Sqlite);
            sql.push("SELECT rowid AS doc FROM search_fts WHERE search_fts MATCH ")
                .bind(parsed.fts5())
                .push(" ORDER BY rowid DESC LIMIT 1 OFFSET ")
                .bind(RANKED_WINDOW - 1);
            if let Some(row) = self.db().query_all_raw(sql.statement()).await?.first() {
                floor = Some(row.try_get::<i64>("", "doc")?);
            }
        }
        let mut hits = self
            .ranked_sqlite(project, parsed, filter, limit, offset, floor)
            .await?;
        if floor.is_some() && hits.len() <= limit as usize {
            hits = self
                .ranked_sqlite(project, parsed, filter, limit, offset, None)
                .await?;
        }
        self.attach_snippets_sqlite(parsed, hits).await
    }

    /// `limit + 1` hits from `offset`, best first, among the matches from rowid `floor` on.
    async fn ranked_sqlite(
        &self,
        project: ProjectId,
        parsed: &ParsedQuery,
        filter: &SearchFilter,
        limit: u32,
        offset: u32,
        floor: Option<i64>,
    ) -> Result<Vec<RawHit>> {
        let sql = ranked_sqlite_sql(project, parsed, filter, limit, offset, floor);
        let rows = self.db().query_all_raw(sql.statement()).await?;
        rows.iter().map(|row| raw_hit(row, true)).collect()
    }

    /// Snippets for this page only: FTS5 builds them from the index's view of the text.
    async fn attach_snippets_sqlite(
        &self,
        parsed: &ParsedQuery,
        mut hits: Vec<RawHit>,
    ) -> Result<Vec<RawHit>> {
        if hits.is_empty() {
            return Ok(hits);
        }
        let indexed = !parsed.words.is_empty();
        let mut sql = Sql::new(DbBackend::Sqlite);
        if indexed {
            sql.push(
                "SELECT rowid AS doc, snippet(search_fts, 0, char(57344), char(57345), '…', 24) \
                 AS snippet FROM search_fts WHERE search_fts MATCH ",
            )
            .bind(parsed.fts5())
            .push(" AND rowid IN (");
        } else {
            sql.push("SELECT d.id AS doc, substr(d.body, max(1, instr(d.body, ")
                .bind(parsed.substrings[0].as_str())
                .push(") - 40), 160) AS snippet FROM search_documents d WHERE d.id IN (");
        }
        for (i, hit) in hits.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(hit.doc.unwrap_or_default());
        }
        sql.push(")");
        let mut snippets: HashMap<i64, String> = HashMap::new();
        for row in self.db().query_all_raw(sql.statement()).await? {
            snippets.insert(row.try_get("", "doc")?, row.try_get("", "snippet")?);
        }
        for hit in &mut hits {
            hit.snippet = hit.doc.and_then(|doc| snippets.remove(&doc));
        }
        Ok(hits)
    }

    /// `limit + 1` hits from `offset`, with snippets. As on SQLite, ranking every match of a
    /// common word costs seconds at a million texts (`ts_rank` tokenises each matching text
    /// again), so the newest [`RANKED_WINDOW`] matches are ranked first, found through the GIN
    /// index without ranking; only when they cannot fill the page are all matches ranked.
    async fn search_postgres(
        &self,
        project: ProjectId,
        parsed: &ParsedQuery,
        filter: &SearchFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<RawHit>> {
        let mut floor = None;
        if !parsed.words.is_empty() {
            let mut sql = Sql::new(DbBackend::Postgres);
            sql.push("SELECT m.created_at FROM (");
            for (i, kind) in searched_kinds(filter).iter().enumerate() {
                if i > 0 {
                    sql.push(" UNION ALL ");
                }
                let (select, text) = postgres_document(*kind);
                sql.push(select)
                    .push(" AND ")
                    .push(text)
                    .push(" @@ plainto_tsquery('simple', ")
                    .bind(parsed.plain())
                    .push(")");
            }
            sql.push(") m ORDER BY m.created_at DESC LIMIT 1 OFFSET ")
                .bind(RANKED_WINDOW - 1);
            if let Some(row) = self.db().query_all_raw(sql.statement()).await?.first() {
                floor = Some(row.try_get::<DateTime<Utc>>("", "created_at")?);
            }
        }
        let hits = self
            .ranked_postgres(project, parsed, filter, limit, offset, floor)
            .await?;
        if floor.is_some() && hits.len() <= limit as usize {
            return self
                .ranked_postgres(project, parsed, filter, limit, offset, None)
                .await;
        }
        Ok(hits)
    }

    /// `limit + 1` hits from `offset`, best first, among the matches created at `floor` or later.
    async fn ranked_postgres(
        &self,
        project: ProjectId,
        parsed: &ParsedQuery,
        filter: &SearchFilter,
        limit: u32,
        offset: u32,
        floor: Option<DateTime<Utc>>,
    ) -> Result<Vec<RawHit>> {
        let indexed = !parsed.words.is_empty();
        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push("SELECT p.kind, p.source_id, p.session_id, p.number, p.created_at, p.score, ");
        if indexed {
            // `<` and `>` are stood in for, or ts_headline would drop anything that looks like a tag.
            sql.push(
                "ts_headline('simple', \
                 replace(replace(p.body, '<', chr(57346)), '>', chr(57347)), \
                 plainto_tsquery('simple', ",
            )
            .bind(parsed.plain())
            .push("), ")
            .bind(format!(
                "StartSel=\"{MARK_START}\", StopSel=\"{MARK_END}\", MaxWords=30, \
                     MinWords=12, ShortWord=0, MaxFragments=2, FragmentDelimiter=\" … \""
            ))
            .push(")");
        } else {
            sql.push("substr(p.body, greatest(1, strpos(p.body, ")
                .bind(parsed.substrings[0].as_str())
                .push(") - 40), 160)");
        }
        sql.push(
            " AS snippet FROM (SELECT u.*, \
             left(coalesce(st.content, sv.current_understanding, ''), 262144) AS body \
             FROM (SELECT * FROM (",
        );
        for (i, kind) in searched_kinds(filter).iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            let (select, text) = match kind {
                SearchKind::Step => (
                    "SELECT 'step' AS kind, x.id AS source_id, x.session_id, \
                     x.step_number AS number, x.created_at",
                    "to_tsvector('simple'::regconfig, left(x.content, 262144))",
                ),
                SearchKind::Synthesis => (
                    "SELECT 'synthesis' AS kind, x.id AS source_id, x.session_id, \
                     x.version AS number, x.created_at",
                    "to_tsvector('simple'::regconfig, \
                     left(coalesce(x.current_understanding, ''), 262144))",
                ),
            };
            sql.push(select);
            if indexed {
                sql.push(", CAST(ts_rank(")
                    .push(text)
                    .push(", plainto_tsquery('simple', ")
                    .bind(parsed.plain())
                    .push(")) AS DOUBLE PRECISION) AS score");
            } else {
                sql.push(", CAST(0 AS DOUBLE PRECISION) AS score");
            }
            match kind {
                SearchKind::Step => {
                    sql.push(" FROM steps x JOIN sessions s ON s.id = x.session_id WHERE TRUE")
                }
                SearchKind::Synthesis => sql.push(
                    " FROM synthesis_versions x JOIN sessions s ON s.id = x.session_id \
                     WHERE x.current_understanding IS NOT NULL",
                ),
            };
            if indexed {
                sql.push(" AND ")
                    .push(text)
                    .push(" @@ plainto_tsquery('simple', ")
                    .bind(parsed.plain())
                    .push(")");
            }
            for word in &parsed.substrings {
                let haystack = match kind {
                    SearchKind::Step => " AND strpos(left(x.content, 262144), ",
                    SearchKind::Synthesis => " AND strpos(left(x.current_understanding, 262144), ",
                };
                sql.push(haystack).bind(word.as_str()).push(") > 0");
            }
            push_filters(&mut sql, project, filter, "x.created_at");
            if let Some(floor) = floor {
                sql.push(" AND x.created_at >= ").bind(floor);
            }
        }
        sql.push(") a ORDER BY score DESC, created_at DESC, source_id DESC LIMIT ")
            .bind(i64::from(limit) + 1)
            .push(" OFFSET ")
            .bind(i64::from(offset));
        sql.push(
            ") u LEFT JOIN steps st ON u.kind = 'step' AND st.id = u.source_id \
             LEFT JOIN synthesis_versions sv ON u.kind = 'synthesis' AND sv.id = u.source_id) p \
             ORDER BY p.score DESC, p.created_at DESC, p.source_id DESC",
        );
        let rows = self.db().query_all_raw(sql.statement()).await?;
        rows.iter().map(|row| raw_hit(row, false)).collect()
    }
}

/// The texts a search looks at: the kind asked for, or both.
fn searched_kinds(filter: &SearchFilter) -> Vec<SearchKind> {
    match filter.kind {
        Some(kind) => vec![kind],
        None => vec![SearchKind::Step, SearchKind::Synthesis],
    }
}

/// `SELECT x.created_at FROM <table> x WHERE …` for one kind of text, and the `tsvector`
/// expression its GIN index is built on (the window query must use the very same expression).
fn postgres_document(kind: SearchKind) -> (&'static str, &'static str) {
    match kind {
        SearchKind::Step => (
            "SELECT x.created_at FROM steps x WHERE TRUE",
            "to_tsvector('simple'::regconfig, left(x.content, 262144))",
        ),
        SearchKind::Synthesis => (
            "SELECT x.created_at FROM synthesis_versions x \
             WHERE x.current_understanding IS NOT NULL",
            "to_tsvector('simple'::regconfig, \
             left(coalesce(x.current_understanding, ''), 262144))",
        ),
    }
}

/// The statement of [`Lux::ranked_sqlite`].
fn ranked_sqlite_sql(
    project: ProjectId,
    parsed: &ParsedQuery,
    filter: &SearchFilter,
    limit: u32,
    offset: u32,
    floor: Option<i64>,
) -> Sql {
    let indexed = !parsed.words.is_empty();
    let mut sql = Sql::new(DbBackend::Sqlite);
    sql.push(
        "SELECT d.id AS doc, d.kind AS kind, d.source_id AS source_id, \
             d.session_id AS session_id, \
             COALESCE(st.step_number, sv.version) AS number, \
             COALESCE(st.created_at, sv.created_at) AS created_at",
    );
    if indexed && filter.session_id.is_none() {
        // The FTS5 scan must be the outer loop. Left to itself, SQLite's planner (3.51, the
        // bundled one) starts from the project's sessions and probes the index once per
        // document with `rowid = ? AND MATCH`, reloading the words' doclists each time: a
        // million probes, tens of seconds, where scanning the matches takes milliseconds.
        // `CROSS JOIN` fixes the join order. One session's documents are few enough to probe.
        sql.push(
            ", -bm25(search_fts) AS score FROM search_fts \
                 CROSS JOIN search_documents d ON d.id = search_fts.rowid \
                 CROSS JOIN sessions s ON s.id = d.session_id",
        );
    } else if indexed {
        sql.push(
            ", -bm25(search_fts) AS score FROM search_fts \
                 JOIN search_documents d ON d.id = search_fts.rowid \
                 JOIN sessions s ON s.id = d.session_id",
        );
    } else {
        sql.push(
            ", CAST(0 AS DOUBLE PRECISION) AS score FROM search_documents d \
                 JOIN sessions s ON s.id = d.session_id",
        );
    }
    sql.push(
        " LEFT JOIN steps st ON d.kind = 'step' AND st.id = d.source_id \
             LEFT JOIN synthesis_versions sv ON d.kind = 'synthesis' AND sv.id = d.source_id",
    );
    if indexed {
        sql.push(" WHERE search_fts MATCH ").bind(parsed.fts5());
        if let Some(floor) = floor {
            sql.push(" AND search_fts.rowid >= ").bind(floor);
        }
    } else {
        sql.push(" WHERE 1 = 1");
    }
    for word in &parsed.substrings {
        sql.push(" AND instr(d.body, ")
            .bind(word.as_str())
            .push(") > 0");
    }
    if let Some(kind) = filter.kind {
        sql.push(" AND d.kind = ").bind(kind.as_str());
    }
    push_filters(
        &mut sql,
        project,
        filter,
        "COALESCE(st.created_at, sv.created_at)",
    );
    sql.push(" ORDER BY score DESC, created_at DESC, d.source_id DESC LIMIT ")
        .bind(i64::from(limit) + 1)
        .push(" OFFSET ")
        .bind(i64::from(offset));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_plain_words() {
        let parsed = parse_query(r#"cache "OR" NEAR( a* 'x': y&|!z -- ; DROP"#).unwrap();
        assert_eq!(
            parsed.words,
            ["cache", "OR", "NEAR", "a", "x", "y", "z", "DROP"]
        );
        assert_eq!(
            parsed.fts5(),
            r#""cache" "OR" "NEAR" "a" "x" "y" "z" "DROP""#
        );
        let parsed = parse_query("決済 のタイムアウト Größe").unwrap();
        assert_eq!(parsed.words, ["Größe"]);
        assert_eq!(parsed.substrings, ["決済", "のタイムアウト"]);
        for empty in ["", "   ", "\"*:&|!()'", "🙂"] {
            assert!(
                matches!(parse_query(empty), Err(Error::Invalid { .. })),
                "{empty:?}"
            );
        }
        assert!(parse_query(&"word ".repeat(40)).is_ok(), "repeats collapse");
        let many: String = (0..40).map(|i| format!("w{i} ")).collect();
        assert!(parse_query(&many).is_err());
    }

    #[test]
    fn snippets_are_escaped_and_marked() {
        let raw = format!("a <b> & {MARK_START}cache{MARK_END} 決済 x");
        assert_eq!(
            render_snippet(&raw, &["決済".to_owned()]),
            "a &lt;b&gt; &amp; <mark>cache</mark> <mark>決済</mark> x"
        );
    }

    #[test]
    fn queries_index_the_migrations_prefix() {
        assert_eq!(lux_migration::SEARCH_PREFIX_CHARS, 262_144);
    }

    /// Issue 5: on a million steps a served search took 26–47 s because SQLite probed the FTS5
    /// index once per document of the project; the ranked query must scan the matches first.
    #[tokio::test]
    async fn issue_5_ranking_starts_from_the_full_text_matches() {
        let path = std::env::temp_dir().join(format!("lux-explain-{}.db", Uuid::now_v7()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = sea_orm::Database::connect(&url).await.unwrap();
        <lux_migration::Migrator as lux_migration::MigratorTrait>::up(&db, None)
            .await
            .unwrap();
        let parsed = parse_query("flamegraph scheduler").unwrap();
        let filter = SearchFilter {
            tool: Some("planner".into()),
            ..SearchFilter::default()
        };
        for floor in [None, Some(1)] {
            let mut statement =
                ranked_sqlite_sql(ProjectId(Uuid::nil()), &parsed, &filter, 20, 0, floor)
                    .statement();
            statement.sql = format!("EXPLAIN QUERY PLAN {}", statement.sql);
            let plan = db.query_all_raw(statement).await.unwrap();
            let first: String = plan[0].try_get("", "detail").unwrap();
            assert!(first.starts_with("SCAN search_fts"), "{first}");
        }
        db.close().await.unwrap();
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn cursors_are_offsets() {
        assert_eq!(decode_cursor(None).unwrap(), 0);
        assert_eq!(decode_cursor(Some("o40")).unwrap(), 40);
        assert!(decode_cursor(Some("40")).is_err());
        assert!(decode_cursor(Some("o99999999")).is_err());
    }
}
