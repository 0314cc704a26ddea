//! Headline figures for a page of sessions at once (steps, findings, alerts, tokens, cost), so a
//! list shows them with four grouped queries instead of a summary per row.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use tracing::instrument;
use uuid::Uuid;

use crate::domain::*;
use crate::error::Result;
use crate::services::analytics::Sql;
use crate::services::patterns::push_ids;
use crate::store::Lux;

/// Sessions per `IN (…)` list, well under SQLite's bound-parameter limit.
const CHUNK: usize = 500;

/// What a session list shows beside each session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionTally {
    pub steps: i64,
    pub findings: i64,
    pub alerts: i64,
    pub model_calls: i64,
    /// Input plus output tokens.
    pub tokens: i64,
    pub cost: NanoUsd,
}

impl Lux {
    /// Tallies of the given sessions of the project; a session with nothing recorded, or not in
    /// the project, tallies zero.
    #[instrument(skip_all, fields(project = %project, sessions = sessions.len()))]
    pub async fn session_tallies(
        &self,
        project: ProjectId,
        sessions: &[SessionId],
    ) -> Result<HashMap<SessionId, SessionTally>> {
        let mut tallies: HashMap<SessionId, SessionTally> = HashMap::new();
        let ids: Vec<Uuid> = sessions.iter().map(|id| id.0).collect();
        for chunk in ids.chunks(CHUNK) {
            for (select, field) in [
                (
                    "SELECT t.session_id, COUNT(*) AS n FROM steps t",
                    Field::Steps,
                ),
                (
                    "SELECT t.session_id, COUNT(*) AS n FROM bias_findings t",
                    Field::Findings,
                ),
                (
                    "SELECT t.session_id, COUNT(*) AS n FROM monitor_events t",
                    Field::Alerts,
                ),
            ] {
                let mut sql = Sql::new(self.db().get_database_backend());
                sql.push(select)
                    .push(" JOIN sessions s ON s.id = t.session_id WHERE s.project_id = ")
                    .bind(project.0)
                    .push(" AND t.session_id IN (");
                push_ids(&mut sql, chunk);
                sql.push(") GROUP BY t.session_id");
                for row in self.db().query_all_raw(sql.statement()).await? {
                    let id = SessionId(row.try_get("", "session_id")?);
                    let n: i64 = row.try_get("", "n")?;
                    let tally = tallies.entry(id).or_default();
                    match field {
                        Field::Steps => tally.steps = n,
                        Field::Findings => tally.findings = n,
                        Field::Alerts => tally.alerts = n,
                    }
                }
            }
            let mut sql = Sql::new(self.db().get_database_backend());
            sql.push(
                "SELECT t.session_id, COUNT(*) AS n, \
                 CAST(COALESCE(SUM(t.input_tokens + t.output_tokens), 0) AS BIGINT) AS tokens, \
                 CAST(COALESCE(SUM(t.cost_nusd), 0) AS BIGINT) AS cost \
                 FROM model_calls t JOIN sessions s ON s.id = t.session_id WHERE s.project_id = ",
            )
            .bind(project.0)
            .push(" AND t.session_id IN (");
            push_ids(&mut sql, chunk);
            sql.push(") GROUP BY t.session_id");
            for row in self.db().query_all_raw(sql.statement()).await? {
                let tally = tallies
                    .entry(SessionId(row.try_get("", "session_id")?))
                    .or_default();
                tally.model_calls = row.try_get("", "n")?;
                tally.tokens = row.try_get("", "tokens")?;
                tally.cost = NanoUsd(row.try_get("", "cost")?);
            }
        }
        Ok(tallies)
    }
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Steps,
    Findings,
    Alerts,
}
