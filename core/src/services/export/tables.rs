//! The analytics reports as flat tables for `/export/analytics_*`: the same services the
//! `/analytics` endpoints answer from, every group (no row limit), one value per column.
//!
//! Reports have one row per group (a few thousand at most, one per session for costs by
//! session), so a table is read whole and then encoded; the record datasets are the ones that
//! need a cursor.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::store::Lux;

/// One row of a table: values in [`AnalyticsTable::columns`] order.
pub type TableRow = Vec<Value>;

impl Lux {
    /// The rows of `table` over the records `filter` selects (as for `/analytics`: `since` and
    /// `until` bound each record's own time), grouped by `group_by` where the table is grouped
    /// (its first [`AnalyticsTable::groupings`] when `None`).
    pub async fn analytics_table(
        &self,
        project: ProjectId,
        table: AnalyticsTable,
        filter: &AnalyticsFilter,
        group_by: Option<&str>,
    ) -> Result<Vec<TableRow>> {
        let grouping = grouping(table, group_by)?;
        let rows = match table {
            AnalyticsTable::Overview => self
                .analytics_overview(project, filter)
                .await?
                .series
                .into_iter()
                .map(|day| {
                    let c = day.counts;
                    let mut row = vec![json!(day.day.to_string()), json!(c.sessions)];
                    row.extend([json!(c.steps), json!(c.model_calls)]);
                    row.extend(tokens(c.tokens));
                    row.extend([json!(c.cost.0), json!(c.findings), json!(c.alerts)]);
                    row
                })
                .collect(),
            AnalyticsTable::Costs => self
                .cost_groups(project, filter, parse_group(table, grouping)?, None)
                .await?
                .rows
                .into_iter()
                .map(|r| {
                    let mut row = vec![json!(r.key), json!(r.model_calls), json!(r.sessions)];
                    row.extend(tokens(r.tokens));
                    row.push(json!(r.cost.0));
                    row
                })
                .collect(),
            AnalyticsTable::Models => self
                .analytics_models(project, filter)
                .await?
                .into_iter()
                .map(|m| {
                    let mut row = vec![json!(m.model), json!(m.model_calls)];
                    row.extend([json!(m.failed_calls), json!(m.error_rate)]);
                    let latency = m.latency_ms;
                    row.extend([json!(latency.p50), json!(latency.p95), json!(latency.p99)]);
                    row.extend(tokens(m.tokens));
                    row.extend([json!(m.cost.0), json!(m.steps), json!(m.findings)]);
                    row.push(json!(m.mean_step_confidence));
                    row
                })
                .collect(),
            AnalyticsTable::BiasRates => self
                .analytics_bias_rates(project, filter, parse_group(table, grouping)?)
                .await?
                .rows
                .into_iter()
                .map(|r| {
                    vec![
                        json!(r.key),
                        json!(r.findings),
                        json!(r.sessions_affected),
                        json!(r.steps),
                        json!(r.sessions),
                        json!(r.findings_per_100_steps),
                        json!(r.session_share),
                    ]
                })
                .collect(),
            AnalyticsTable::Monitor => self
                .analytics_monitor(project, filter, parse_group(table, grouping)?)
                .await?
                .rows
                .into_iter()
                .map(|r| {
                    let s = r.by_severity;
                    vec![
                        json!(r.key),
                        json!(r.alerts),
                        json!(r.sessions_affected),
                        json!(r.steps),
                        json!(r.sessions),
                        json!(r.alerts_per_100_steps),
                        json!(r.session_share),
                        json!(s.none),
                        json!(s.low),
                        json!(s.medium),
                        json!(s.high),
                        json!(s.critical),
                    ]
                })
                .collect(),
            AnalyticsTable::Recommendations => self
                .analytics_recommendations(project, filter)
                .await?
                .items
                .into_iter()
                .map(|item| {
                    let kind = serde_json::to_value(item.kind).unwrap_or(Value::Null);
                    vec![
                        kind,
                        json!(item.model),
                        json!(item.alternative),
                        json!(item.evidence.model.cost.0),
                        json!(item.evidence.repriced_cost.map(|cost| cost.0)),
                        json!(item.saving.map(|saving| saving.0)),
                        json!(item.monthly_saving.map(|saving| saving.0)),
                        json!(item.reason),
                    ]
                })
                .collect(),
        };
        Ok(rows)
    }
}

fn tokens(tokens: TokenTotals) -> [Value; 4] {
    [
        json!(tokens.input),
        json!(tokens.output),
        json!(tokens.cached_input),
        json!(tokens.reasoning),
    ]
}

/// The grouping asked for, checked against what the table takes.
fn grouping(table: AnalyticsTable, group_by: Option<&str>) -> Result<&str> {
    let allowed = table.groupings();
    match (group_by, allowed.first()) {
        (None, Some(default)) => Ok(default),
        (None, None) => Ok(""),
        (Some(_), None) => Err(Error::invalid(
            "group_by",
            format!("does not apply to {table}"),
        )),
        (Some(group), Some(_)) if allowed.contains(&group) => Ok(group),
        (Some(group), Some(_)) => Err(Error::invalid(
            "group_by",
            format!("{group:?} is not one of {} for {table}", allowed.join(", ")),
        )),
    }
}

/// A checked grouping name as the report's own enum (they share the snake_case names).
fn parse_group<T: DeserializeOwned>(table: AnalyticsTable, group: &str) -> Result<T> {
    serde_json::from_value(Value::String(group.to_owned()))
        .map_err(|e| Error::invalid("group_by", format!("{group:?} for {table}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every grouping a table offers is one its report understands.
    #[test]
    fn every_offered_grouping_parses() {
        for group in AnalyticsTable::Costs.groupings() {
            parse_group::<CostGroup>(AnalyticsTable::Costs, group).unwrap();
        }
        for group in AnalyticsTable::BiasRates.groupings() {
            parse_group::<BiasGroup>(AnalyticsTable::BiasRates, group).unwrap();
        }
        for group in AnalyticsTable::Monitor.groupings() {
            parse_group::<MonitorGroup>(AnalyticsTable::Monitor, group).unwrap();
        }
    }

    #[test]
    fn groupings_are_checked_per_table() {
        assert_eq!(grouping(AnalyticsTable::Costs, None).unwrap(), "model");
        assert_eq!(grouping(AnalyticsTable::Models, None).unwrap(), "");
        let error = grouping(AnalyticsTable::Models, Some("day")).unwrap_err();
        assert!(error.to_string().contains("does not apply"), "{error}");
        let error = grouping(AnalyticsTable::Monitor, Some("model")).unwrap_err();
        assert!(error.to_string().contains("kind, day"), "{error}");
    }
}
