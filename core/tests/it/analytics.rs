//! Analytics: every report equals the same figure computed in Rust over the raw rows, on both backends.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use lux_core::demo::DemoOptions;
use lux_core::pricing::{TokenUsage, compute_cost};
use lux_core::services::usage::NewPrice;
use lux_core::*;
use lux_migration::MigratorTrait;
use sea_orm::ConnectionTrait;

use crate::support::{session, thought};

/// Every row of a project, read through the ordinary services.
struct Raw {
    sessions: Vec<Session>,
    steps: Vec<Step>,
    calls: Vec<ModelCall>,
    findings: Vec<Finding>,
    alerts: Vec<MonitorEvent>,
}

async fn raw(lux: &Lux, project: ProjectId) -> Raw {
    let sessions = lux
        .list_sessions(
            project,
            &SessionFilter::default(),
            &PageRequest::first(1000),
        )
        .await
        .unwrap()
        .items;
    let mut raw = Raw {
        sessions: sessions.clone(),
        steps: Vec::new(),
        calls: Vec::new(),
        findings: Vec::new(),
        alerts: Vec::new(),
    };
    for session in &sessions {
        let reference = SessionRef::Id(session.id);
        raw.steps
            .extend(lux.all_steps(project, &reference).await.unwrap());
        raw.calls
            .extend(lux.list_model_calls(project, &reference).await.unwrap());
        raw.findings
            .extend(lux.list_findings(project, &reference).await.unwrap());
        raw.alerts
            .extend(lux.list_monitor_events(project, &reference).await.unwrap());
    }
    raw
}

impl Raw {
    fn session(&self, id: SessionId) -> &Session {
        self.sessions.iter().find(|s| s.id == id).unwrap()
    }

    /// The session-level part of the filter (tool, user, model by session or any call).
    fn session_matches(&self, id: SessionId, filter: &AnalyticsFilter) -> bool {
        let session = self.session(id);
        filter
            .tool
            .as_ref()
            .is_none_or(|tool| &session.tool == tool)
            && filter
                .user_id
                .as_ref()
                .is_none_or(|user| session.user_id.as_ref() == Some(user))
            && filter.model.as_ref().is_none_or(|model| {
                session.model.as_ref() == Some(model)
                    || self
                        .calls
                        .iter()
                        .any(|call| call.session_id == id && &call.model == model)
            })
    }

    fn call_matches(&self, call: &ModelCall, filter: &AnalyticsFilter) -> bool {
        let session = self.session(call.session_id);
        filter
            .tool
            .as_ref()
            .is_none_or(|tool| &session.tool == tool)
            && filter
                .user_id
                .as_ref()
                .is_none_or(|user| session.user_id.as_ref() == Some(user))
            && filter
                .model
                .as_ref()
                .is_none_or(|model| &call.model == model)
            && in_range(call.created_at, filter)
    }

    fn sessions_in(&self, f: &AnalyticsFilter) -> Vec<&Session> {
        self.sessions
            .iter()
            .filter(|s| self.session_matches(s.id, f) && in_range(s.created_at, f))
            .collect()
    }

    fn steps_in(&self, f: &AnalyticsFilter) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|x| self.session_matches(x.session_id, f) && in_range(x.created_at, f))
            .collect()
    }

    fn calls_in(&self, f: &AnalyticsFilter) -> Vec<&ModelCall> {
        self.calls
            .iter()
            .filter(|call| self.call_matches(call, f))
            .collect()
    }

    fn findings_in(&self, f: &AnalyticsFilter) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|x| self.session_matches(x.session_id, f) && in_range(x.created_at, f))
            .collect()
    }

    fn alerts_in(&self, f: &AnalyticsFilter) -> Vec<&MonitorEvent> {
        self.alerts
            .iter()
            .filter(|x| self.session_matches(x.session_id, f) && in_range(x.created_at, f))
            .collect()
    }

    /// Whether the session's main model is `model` or any of its calls used it.
    fn uses_model(&self, id: SessionId, model: &str) -> bool {
        self.session(id).model.as_deref() == Some(model)
            || self
                .calls
                .iter()
                .any(|call| call.session_id == id && call.model == model)
    }

    /// The group of a session-level grouping (`model`, `tool`) a session belongs to.
    fn session_key(&self, id: SessionId, group_by: BiasGroup) -> String {
        let session = self.session(id);
        match group_by {
            BiasGroup::Model => session
                .model
                .clone()
                .unwrap_or_else(|| NO_MODEL_KEY.to_owned()),
            _ => session.tool.clone(),
        }
    }
}

fn in_range(at: DateTime<Utc>, filter: &AnalyticsFilter) -> bool {
    filter.since.is_none_or(|since| at >= since) && filter.until.is_none_or(|until| at < until)
}

fn day(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

fn add_call(counts: &mut ActivityCounts, call: &ModelCall) {
    counts.model_calls += 1;
    counts.tokens.input += call.input_tokens;
    counts.tokens.output += call.output_tokens;
    counts.tokens.cached_input += call.cached_input_tokens;
    counts.tokens.reasoning += call.reasoning_tokens;
    counts.cost = NanoUsd(counts.cost.0 + call.cost.0);
}

fn expected_overview(raw: &Raw, f: &AnalyticsFilter) -> Overview {
    let mut days: BTreeMap<NaiveDate, ActivityCounts> = BTreeMap::new();
    for s in raw.sessions_in(f) {
        days.entry(day(s.created_at)).or_default().sessions += 1;
    }
    for x in raw.steps_in(f) {
        days.entry(day(x.created_at)).or_default().steps += 1;
    }
    for call in raw.calls_in(f) {
        add_call(days.entry(day(call.created_at)).or_default(), call);
    }
    for x in raw.findings_in(f) {
        days.entry(day(x.created_at)).or_default().findings += 1;
    }
    for x in raw.alerts_in(f) {
        days.entry(day(x.created_at)).or_default().alerts += 1;
    }
    let mut totals = ActivityCounts {
        sessions: raw.sessions_in(f).len() as i64,
        steps: raw.steps_in(f).len() as i64,
        findings: raw.findings_in(f).len() as i64,
        alerts: raw.alerts_in(f).len() as i64,
        ..ActivityCounts::default()
    };
    for call in raw.calls_in(f) {
        add_call(&mut totals, call);
    }
    Overview {
        totals,
        series: days
            .into_iter()
            .map(|(day, counts)| DailyActivity { day, counts })
            .collect(),
    }
}

fn cost_row(key: Option<String>, calls: &[&ModelCall]) -> CostRow {
    let mut counts = ActivityCounts::default();
    for call in calls {
        add_call(&mut counts, call);
    }
    let sessions: HashSet<SessionId> = calls.iter().map(|call| call.session_id).collect();
    CostRow {
        key,
        model_calls: counts.model_calls,
        sessions: sessions.len() as i64,
        tokens: counts.tokens,
        cost: counts.cost,
    }
}

fn expected_costs(raw: &Raw, f: &AnalyticsFilter, group_by: CostGroup) -> CostReport {
    let calls = raw.calls_in(f);
    let mut groups: HashMap<Option<String>, Vec<&ModelCall>> = HashMap::new();
    for call in &calls {
        let session = raw.session(call.session_id);
        let key = match group_by {
            CostGroup::Model => Some(call.model.clone()),
            CostGroup::Day => Some(day(call.created_at).to_string()),
            CostGroup::Tool => Some(session.tool.clone()),
            CostGroup::User => session.user_id.clone(),
            CostGroup::Session => Some(session.id.to_string()),
            CostGroup::Project => Some(session.project_id.to_string()),
        };
        groups.entry(key).or_default().push(call);
    }
    let mut rows: Vec<CostRow> = groups
        .into_iter()
        .map(|(key, calls)| cost_row(key, &calls))
        .collect();
    rows.sort_by(|a, b| match group_by {
        CostGroup::Day => a.key.cmp(&b.key),
        _ => b
            .cost
            .0
            .cmp(&a.cost.0)
            .then(b.model_calls.cmp(&a.model_calls))
            .then(a.key.is_none().cmp(&b.key.is_none()))
            .then(a.key.cmp(&b.key)),
    });
    CostReport {
        group_by,
        rows,
        total: cost_row(None, &calls),
    }
}

fn nearest_rank(sorted: &[i64], p: usize) -> i64 {
    let rank = (sorted.len() * p).div_ceil(100);
    sorted[rank.max(1) - 1]
}

fn expected_models(raw: &Raw, f: &AnalyticsFilter) -> Vec<ModelStats> {
    let mut groups: BTreeMap<String, Vec<&ModelCall>> = BTreeMap::new();
    for call in raw.calls_in(f) {
        groups.entry(call.model.clone()).or_default().push(call);
    }
    let mut models: Vec<ModelStats> = groups
        .into_iter()
        .map(|(model, calls)| {
            let row = cost_row(None, &calls);
            let failed = calls
                .iter()
                .filter(|call| call.status != CallStatus::Ok)
                .count() as i64;
            let mut latencies: Vec<i64> = calls.iter().map(|call| call.latency_ms).collect();
            latencies.sort();
            ModelStats {
                model,
                model_calls: row.model_calls,
                failed_calls: failed,
                error_rate: failed as f64 / row.model_calls as f64,
                latency_ms: LatencyPercentiles {
                    p50: nearest_rank(&latencies, 50),
                    p95: nearest_rank(&latencies, 95),
                    p99: nearest_rank(&latencies, 99),
                },
                tokens: row.tokens,
                cost: row.cost,
                steps: 0,
                findings: 0,
                mean_step_confidence: None,
                findings_per_100_steps: 0.0,
            }
        })
        .collect();
    for stats in &mut models {
        let steps: Vec<&Step> = raw
            .steps_in(f)
            .into_iter()
            .filter(|x| raw.uses_model(x.session_id, &stats.model))
            .collect();
        let findings = raw
            .findings_in(f)
            .into_iter()
            .filter(|x| raw.uses_model(x.session_id, &stats.model))
            .count() as i64;
        let confidences: Vec<f64> = steps.iter().filter_map(|x| x.confidence).collect();
        stats.steps = steps.len() as i64;
        stats.findings = findings;
        stats.mean_step_confidence = (!confidences.is_empty())
            .then(|| confidences.iter().sum::<f64>() / confidences.len() as f64);
        stats.findings_per_100_steps = if steps.is_empty() {
            0.0
        } else {
            (findings * 100) as f64 / steps.len() as f64
        };
    }
    models.sort_by(|a, b| {
        b.model_calls
            .cmp(&a.model_calls)
            .then(a.model.cmp(&b.model))
    });
    models
}

/// Equal, except that mean confidences (a floating sum in SQL) need only agree to 1e-9.
fn assert_models_eq(actual: &[ModelStats], expected: &[ModelStats], context: &str) {
    let without_means = |models: &[ModelStats]| -> Vec<ModelStats> {
        models
            .iter()
            .map(|m| ModelStats {
                mean_step_confidence: None,
                ..m.clone()
            })
            .collect()
    };
    assert_eq!(without_means(actual), without_means(expected), "{context}");
    for (a, e) in actual.iter().zip(expected) {
        match (a.mean_step_confidence, e.mean_step_confidence) {
            (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{context}: {a} vs {e}"),
            (a, e) => assert_eq!(a, e, "{context}"),
        }
    }
}

fn rate_row(key: String, findings: &[&Finding], steps: i64, sessions: i64) -> BiasRateRow {
    let affected: HashSet<SessionId> = findings.iter().map(|x| x.session_id).collect();
    let findings = findings.len() as i64;
    BiasRateRow {
        key,
        findings,
        sessions_affected: affected.len() as i64,
        steps,
        sessions,
        findings_per_100_steps: if steps == 0 {
            0.0
        } else {
            (findings * 100) as f64 / steps as f64
        },
        session_share: if sessions == 0 {
            0.0
        } else {
            affected.len() as f64 / sessions as f64
        },
    }
}

fn expected_bias_rates(raw: &Raw, f: &AnalyticsFilter, group_by: BiasGroup) -> BiasRateReport {
    let steps = raw.steps_in(f);
    let findings = raw.findings_in(f);
    let active: HashSet<SessionId> = steps
        .iter()
        .map(|x| x.session_id)
        .chain(findings.iter().map(|x| x.session_id))
        .collect();
    let mut groups: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for finding in &findings {
        let key = match group_by {
            BiasGroup::BiasType => finding.bias_type.clone(),
            BiasGroup::Severity => finding.severity.as_str().to_owned(),
            BiasGroup::Detector => finding.detector.clone(),
            BiasGroup::Day => day(finding.created_at).to_string(),
            BiasGroup::Model | BiasGroup::Tool => raw.session_key(finding.session_id, group_by),
        };
        groups.entry(key).or_default().push(finding);
    }
    let mut rows: Vec<BiasRateRow> = groups
        .into_iter()
        .map(|(key, group)| {
            let (n_steps, n_sessions) = if matches!(group_by, BiasGroup::Model | BiasGroup::Tool) {
                let in_group = |id: SessionId| raw.session_key(id, group_by) == key;
                let sessions: HashSet<SessionId> =
                    active.iter().copied().filter(|id| in_group(*id)).collect();
                (
                    steps.iter().filter(|x| in_group(x.session_id)).count() as i64,
                    sessions.len() as i64,
                )
            } else if group_by == BiasGroup::Day {
                let on_day = |at: DateTime<Utc>| day(at).to_string() == key;
                let sessions: HashSet<SessionId> = steps
                    .iter()
                    .filter(|x| on_day(x.created_at))
                    .map(|x| x.session_id)
                    .chain(
                        findings
                            .iter()
                            .filter(|x| on_day(x.created_at))
                            .map(|x| x.session_id),
                    )
                    .collect();
                (
                    steps.iter().filter(|x| on_day(x.created_at)).count() as i64,
                    sessions.len() as i64,
                )
            } else {
                (steps.len() as i64, active.len() as i64)
            };
            rate_row(key, &group, n_steps, n_sessions)
        })
        .collect();
    if group_by != BiasGroup::Day {
        rows.sort_by(|a, b| b.findings.cmp(&a.findings).then(a.key.cmp(&b.key)));
    }
    BiasRateReport {
        group_by,
        rows,
        total: rate_row(
            "all".to_owned(),
            &findings,
            steps.len() as i64,
            active.len() as i64,
        ),
    }
}

fn expected_monitor(raw: &Raw, f: &AnalyticsFilter, group_by: MonitorGroup) -> MonitorReport {
    let steps = raw.steps_in(f);
    let alerts = raw.alerts_in(f);
    let row = |key: String, group: &[&MonitorEvent], n_steps: i64, n_sessions: i64| {
        let affected: HashSet<SessionId> = group.iter().map(|x| x.session_id).collect();
        let mut by_severity = SeverityCounts::default();
        for alert in group {
            match alert.severity {
                Severity::None => by_severity.none += 1,
                Severity::Low => by_severity.low += 1,
                Severity::Medium => by_severity.medium += 1,
                Severity::High => by_severity.high += 1,
                Severity::Critical => by_severity.critical += 1,
            }
        }
        let n = group.len() as i64;
        MonitorRow {
            key,
            alerts: n,
            sessions_affected: affected.len() as i64,
            steps: n_steps,
            sessions: n_sessions,
            alerts_per_100_steps: if n_steps == 0 {
                0.0
            } else {
                (n * 100) as f64 / n_steps as f64
            },
            session_share: if n_sessions == 0 {
                0.0
            } else {
                affected.len() as f64 / n_sessions as f64
            },
            by_severity,
        }
    };
    let active = |on: &dyn Fn(DateTime<Utc>) -> bool| -> (i64, i64) {
        let sessions: HashSet<SessionId> = steps
            .iter()
            .filter(|x| on(x.created_at))
            .map(|x| x.session_id)
            .chain(
                alerts
                    .iter()
                    .filter(|x| on(x.created_at))
                    .map(|x| x.session_id),
            )
            .collect();
        (
            steps.iter().filter(|x| on(x.created_at)).count() as i64,
            sessions.len() as i64,
        )
    };
    let mut groups: BTreeMap<String, Vec<&MonitorEvent>> = BTreeMap::new();
    for alert in &alerts {
        let key = match group_by {
            MonitorGroup::Kind => alert.kind.clone(),
            MonitorGroup::Day => day(alert.created_at).to_string(),
        };
        groups.entry(key).or_default().push(alert);
    }
    let (all_steps, all_sessions) = active(&|_| true);
    let mut rows: Vec<MonitorRow> = groups
        .into_iter()
        .map(|(key, group)| {
            let (n_steps, n_sessions) = match group_by {
                MonitorGroup::Kind => (all_steps, all_sessions),
                MonitorGroup::Day => active(&|at| day(at).to_string() == key),
            };
            row(key, &group, n_steps, n_sessions)
        })
        .collect();
    if group_by == MonitorGroup::Kind {
        rows.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(a.key.cmp(&b.key)));
    }
    MonitorReport {
        group_by,
        rows,
        total: row("all".to_owned(), &alerts, all_steps, all_sessions),
    }
}

/// Filters that exercise each part of the scope: none, a time window, a tool, a user, a model.
fn filters(raw: &Raw) -> Vec<AnalyticsFilter> {
    let mut times: Vec<DateTime<Utc>> = raw.steps.iter().map(|x| x.created_at).collect();
    times.sort();
    let middle = times[times.len() / 2];
    let busiest_tool = raw.sessions[0].tool.clone();
    let user = raw.sessions.iter().find_map(|s| s.user_id.clone());
    let model = raw.calls[0].model.clone();
    vec![
        AnalyticsFilter::default(),
        AnalyticsFilter {
            since: Some(middle - Duration::days(3)),
            until: Some(middle + Duration::hours(5)),
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            tool: Some(busiest_tool),
            since: Some(times[0]),
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            user_id: user,
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            model: Some(model),
            until: Some(middle),
            ..AnalyticsFilter::default()
        },
    ]
}

async fn demo_data(lux: &Lux) -> (ProjectId, Raw) {
    let project = lux.default_project();
    let options = DemoOptions {
        sessions: 24,
        seed: 3,
    };
    lux.fill_demo(project, &options).await.unwrap();
    // Another project's data must never show up in these figures.
    let other = lux.create_project("other", "Other").await.unwrap();
    let options = DemoOptions {
        sessions: 6,
        seed: 4,
    };
    lux.fill_demo(other.id, &options).await.unwrap();
    let raw = raw(lux, project).await;
    assert!(!raw.calls.is_empty() && !raw.findings.is_empty());
    (project, raw)
}

async fn overview_equals_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    for filter in filters(&raw) {
        let overview = lux.analytics_overview(project, &filter).await.unwrap();
        assert_eq!(overview, expected_overview(&raw, &filter), "{filter:?}");
    }
    let all = lux
        .analytics_overview(project, &AnalyticsFilter::default())
        .await
        .unwrap();
    assert_eq!(all.totals.sessions, 24);
    assert!(all.totals.cost > NanoUsd(0));
}

async fn costs_equal_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    for filter in filters(&raw) {
        for group_by in [
            CostGroup::Model,
            CostGroup::Day,
            CostGroup::Tool,
            CostGroup::User,
            CostGroup::Session,
            CostGroup::Project,
        ] {
            let report = lux
                .analytics_costs(project, &filter, group_by, Some(1000))
                .await
                .unwrap();
            assert_eq!(
                report,
                expected_costs(&raw, &filter, group_by),
                "{group_by:?} {filter:?}"
            );
        }
    }
    // A limit keeps the costliest groups (the most recent days) and the total of all.
    let full = expected_costs(&raw, &AnalyticsFilter::default(), CostGroup::Session);
    let top = lux
        .analytics_costs(
            project,
            &AnalyticsFilter::default(),
            CostGroup::Session,
            Some(3),
        )
        .await
        .unwrap();
    assert_eq!(top.rows, full.rows[..3]);
    assert_eq!(top.total, full.total);
    let full = expected_costs(&raw, &AnalyticsFilter::default(), CostGroup::Day);
    let recent = lux
        .analytics_costs(
            project,
            &AnalyticsFilter::default(),
            CostGroup::Day,
            Some(2),
        )
        .await
        .unwrap();
    assert_eq!(recent.rows, full.rows[full.rows.len() - 2..]);
}

async fn models_equal_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    for filter in filters(&raw) {
        let models = lux.analytics_models(project, &filter).await.unwrap();
        assert_models_eq(
            &models,
            &expected_models(&raw, &filter),
            &format!("{filter:?}"),
        );
    }
    let models = lux
        .analytics_models(project, &AnalyticsFilter::default())
        .await
        .unwrap();
    assert!(
        models
            .iter()
            .any(|m| m.mean_step_confidence.is_some() && m.steps > 0),
        "{models:?}"
    );
}

async fn monitor_equals_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    assert!(!raw.alerts.is_empty());
    for filter in filters(&raw) {
        for group_by in [MonitorGroup::Kind, MonitorGroup::Day] {
            let report = lux
                .analytics_monitor(project, &filter, group_by)
                .await
                .unwrap();
            assert_eq!(
                report,
                expected_monitor(&raw, &filter, group_by),
                "{group_by:?} {filter:?}"
            );
        }
    }
}

async fn bias_rates_equal_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    for filter in filters(&raw) {
        for group_by in [
            BiasGroup::BiasType,
            BiasGroup::Severity,
            BiasGroup::Detector,
            BiasGroup::Day,
            BiasGroup::Model,
            BiasGroup::Tool,
        ] {
            let report = lux
                .analytics_bias_rates(project, &filter, group_by)
                .await
                .unwrap();
            assert_eq!(
                report,
                expected_bias_rates(&raw, &filter, group_by),
                "{group_by:?} {filter:?}"
            );
        }
    }
}

async fn session_summaries_equal_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    for session in &raw.sessions {
        let reference = SessionRef::Id(session.id);
        let summary = lux.session_summary(project, &reference).await.unwrap();
        let steps: Vec<&Step> = raw
            .steps
            .iter()
            .filter(|x| x.session_id == session.id)
            .collect();
        let calls: Vec<&ModelCall> = raw
            .calls
            .iter()
            .filter(|x| x.session_id == session.id)
            .collect();
        let versions = lux
            .list_synthesis_versions(project, &reference)
            .await
            .unwrap();
        let costs = cost_row(None, &calls);
        let ended_at = session
            .completed_at
            .or(steps.iter().map(|x| x.created_at).max())
            .unwrap_or(session.created_at);
        let (confidence, source) = match versions.last().and_then(|v| v.confidence) {
            Some(confidence) => (Some(confidence), Some(ConfidenceSource::Synthesis)),
            None => match steps.iter().rev().find_map(|x| x.confidence) {
                Some(confidence) => (Some(confidence), Some(ConfidenceSource::Step)),
                None => (None, None),
            },
        };
        let expected = SessionSummary {
            session_id: session.id,
            status: session.status,
            steps: steps.len() as i64,
            synthesis_versions: versions.len() as i64,
            model_calls: calls.len() as i64,
            failed_calls: calls
                .iter()
                .filter(|call| call.status != CallStatus::Ok)
                .count() as i64,
            tokens: costs.tokens,
            cost: costs.cost,
            findings: raw
                .findings
                .iter()
                .filter(|x| x.session_id == session.id)
                .count() as i64,
            alerts: raw
                .alerts
                .iter()
                .filter(|x| x.session_id == session.id)
                .count() as i64,
            created_at: session.created_at,
            ended_at,
            duration_ms: (ended_at - session.created_at).num_milliseconds(),
            final_confidence: confidence,
            confidence_source: source,
        };
        assert_eq!(summary, expected);
    }
}

async fn summary_of_a_fresh_session_and_of_another_project(lux: &Lux) {
    let (project, session, reference) = session(lux, "planner").await;
    let summary = lux.session_summary(project, &reference).await.unwrap();
    assert_eq!(summary.steps, 0);
    assert_eq!(summary.duration_ms, 0);
    assert_eq!(summary.final_confidence, None);
    lux.append_step(
        project,
        &reference,
        NewStep {
            confidence: Some(0.4),
            ..thought("a first idea")
        },
    )
    .await
    .unwrap();
    let summary = lux.session_summary(project, &reference).await.unwrap();
    assert_eq!(summary.steps, 1);
    assert_eq!(summary.final_confidence, Some(0.4));
    assert_eq!(summary.confidence_source, Some(ConfidenceSource::Step));

    let other = lux.create_project("elsewhere", "Elsewhere").await.unwrap();
    let error = lux
        .session_summary(other.id, &SessionRef::Id(session.id))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error}");
}

async fn empty_projects_and_bad_filters(lux: &Lux) {
    let project = lux.default_project();
    let filter = AnalyticsFilter::default();
    let overview = lux.analytics_overview(project, &filter).await.unwrap();
    assert_eq!(overview.totals, ActivityCounts::default());
    assert!(overview.series.is_empty());
    let costs = lux
        .analytics_costs(project, &filter, CostGroup::Model, None)
        .await
        .unwrap();
    assert!(costs.rows.is_empty());
    assert_eq!(costs.total.model_calls, 0);
    assert!(
        lux.analytics_models(project, &filter)
            .await
            .unwrap()
            .is_empty()
    );
    let rates = lux
        .analytics_bias_rates(project, &filter, BiasGroup::Day)
        .await
        .unwrap();
    assert_eq!(rates.total.findings_per_100_steps, 0.0);
    let alerts = lux
        .analytics_monitor(project, &filter, MonitorGroup::Day)
        .await
        .unwrap();
    assert!(alerts.rows.is_empty());
    assert_eq!(alerts.total.alerts, 0);
    let advice = lux
        .analytics_recommendations(project, &filter)
        .await
        .unwrap();
    assert!(advice.items.is_empty());

    let now = Utc::now();
    let inverted = AnalyticsFilter {
        since: Some(now),
        until: Some(now - Duration::days(1)),
        ..AnalyticsFilter::default()
    };
    let error = lux
        .analytics_overview(project, &inverted)
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("until"));
    for error in [
        lux.analytics_monitor(project, &inverted, MonitorGroup::Kind)
            .await
            .unwrap_err(),
        lux.analytics_recommendations(project, &inverted)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.field(), Some("until"));
    }
    let error = lux
        .analytics_costs(project, &filter, CostGroup::Model, Some(0))
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("limit"));
    let nul = AnalyticsFilter {
        tool: Some("a\0b".into()),
        ..AnalyticsFilter::default()
    };
    assert!(lux.analytics_models(project, &nul).await.is_err());
}

storage_tests!(
    overview_equals_raw_rows,
    costs_equal_raw_rows,
    models_equal_raw_rows,
    bias_rates_equal_raw_rows,
    monitor_equals_raw_rows,
    overview_from_the_rollup_equals_raw_rows,
    reports_from_the_session_rollups_equal_raw_rows,
    a_refresh_during_a_write_loses_nothing,
    recommendations_from_crafted_usage,
    session_summaries_equal_raw_rows,
    summary_of_a_fresh_session_and_of_another_project,
    empty_projects_and_bad_filters,
);

/// Sessions of `model`, each with `steps` steps stating `confidence` and one call per step
/// (`failed` of them failing, at `latency_ms`), made at `at`.
async fn usage(
    lux: &Lux,
    model: &str,
    sessions: usize,
    confidence: f64,
    (input, output, cached): (i64, i64, i64),
    (failed, latency_ms): (usize, i64),
    at: DateTime<Utc>,
) {
    let project = lux.default_project();
    for n in 0..sessions {
        let session = lux
            .create_session(
                project,
                NewSession {
                    tool: "planner".into(),
                    model: Some(model.into()),
                    created_at: Some(at),
                    ..NewSession::default()
                },
            )
            .await
            .unwrap()
            .value;
        let reference = SessionRef::Id(session.id);
        for i in 0..5 {
            let step = lux
                .append_step(
                    project,
                    &reference,
                    NewStep {
                        confidence: Some(confidence),
                        created_at: Some(at),
                        ..thought(&format!(
                            "Part {i} of the plan: list the inputs, then check them."
                        ))
                    },
                )
                .await
                .unwrap()
                .value;
            let status = if n * 5 + i < failed {
                CallStatus::Error
            } else {
                CallStatus::Ok
            };
            lux.record_model_call(
                project,
                &reference,
                NewModelCall {
                    step_id: Some(step.id),
                    cached_input_tokens: cached,
                    latency_ms,
                    status,
                    created_at: Some(at),
                    ..NewModelCall::ok("acme", model, input, output)
                },
            )
            .await
            .unwrap();
        }
    }
}

async fn recommendations_from_crafted_usage(lux: &Lux) {
    let from = "2020-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let price = |pattern: &str, input: i64, output: i64, cached: Option<i64>| NewPrice {
        model_pattern: pattern.into(),
        provider: None,
        input_nusd_per_mtok: input,
        output_nusd_per_mtok: output,
        cached_input_nusd_per_mtok: cached,
        reasoning_nusd_per_mtok: None,
        effective_from: Some(from),
    };
    let big = lux
        .set_price(price(
            "acme-big",
            10_000_000_000,
            30_000_000_000,
            Some(2_500_000_000),
        ))
        .await
        .unwrap();
    let small = lux
        .set_price(price("acme-small", 150_000_000, 600_000_000, None))
        .await
        .unwrap();
    // Cheaper still, but its sessions are far less confident: never the advice.
    lux.set_price(price("acme-tiny", 10_000_000, 20_000_000, None))
        .await
        .unwrap();

    let at = Utc::now() - Duration::days(20);
    usage(lux, "acme-big", 3, 0.8, (1_234, 567, 200), (0, 900), at).await;
    usage(lux, "acme-small", 2, 0.78, (1_500, 700, 0), (0, 800), at).await;
    usage(lux, "acme-tiny", 2, 0.5, (1_000, 300, 0), (0, 700), at).await;
    // Unpriced, 2 of 10 calls failing, and 25× slower than the median model.
    usage(lux, "acme-flaky", 2, 0.8, (100, 100, 0), (2, 20_000), at).await;

    let project = lux.default_project();
    let since = at - Duration::days(5);
    let until = since + Duration::days(10);
    let filter = AnalyticsFilter {
        since: Some(since),
        until: Some(until),
        ..AnalyticsFilter::default()
    };
    let report = lux
        .analytics_recommendations(project, &filter)
        .await
        .unwrap();
    assert_eq!(report.period_start, Some(since));
    assert_eq!(report.period_end, until);
    // The dashboard hands over the models report it already read: same advice.
    let models = lux.analytics_models(project, &filter).await.unwrap();
    assert_eq!(
        lux.analytics_recommendations_from(project, &filter, &models)
            .await
            .unwrap(),
        report
    );

    // What acme-big's 15 calls cost, and what the same tokens cost at acme-small's price.
    let call = TokenUsage {
        input_tokens: 1_234,
        output_tokens: 567,
        cached_input_tokens: 200,
        reasoning_tokens: 0,
    };
    let big_cost = 15 * compute_cost(&big.price, &call).unwrap().0;
    let all = TokenUsage {
        input_tokens: 15 * 1_234,
        output_tokens: 15 * 567,
        cached_input_tokens: 15 * 200,
        reasoning_tokens: 0,
    };
    let repriced = compute_cost(&small.price, &all).unwrap().0;
    let saving = big_cost - repriced;
    assert!(saving > 0);

    let kinds: Vec<(RecommendationKind, &str)> = report
        .items
        .iter()
        .map(|item| (item.kind, item.model.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (RecommendationKind::SwitchModel, "acme-big"),
            (RecommendationKind::FailingModel, "acme-flaky"),
            (RecommendationKind::SlowModel, "acme-flaky"),
        ],
        "{report:#?}"
    );
    let switch = &report.items[0];
    assert_eq!(switch.alternative.as_deref(), Some("acme-small"));
    assert_eq!(switch.saving, Some(NanoUsd(saving)));
    // 10 days of usage: a month saves three times as much.
    assert_eq!(switch.monthly_saving, Some(NanoUsd(saving * 3)));
    assert_eq!(switch.evidence.model.cost, NanoUsd(big_cost));
    assert_eq!(switch.evidence.repriced_cost, Some(NanoUsd(repriced)));
    assert_eq!(switch.evidence.model.steps, 15);
    assert!(switch.reason.contains("acme-small"), "{}", switch.reason);
    let flaky = &report.items[1];
    assert_eq!(flaky.evidence.model.failed_calls, 2);
    // p95 latencies 700, 800, 900 and 20,000 ms: the median (second of four) is 800.
    assert_eq!(flaky.evidence.project_median_p95_ms, 800);

    // The same figures come out of the models report; a model filter leaves nothing to compare.
    let models = lux.analytics_models(project, &filter).await.unwrap();
    assert!(models.contains(&switch.evidence.model));
    let only_big = AnalyticsFilter {
        model: Some("acme-big".into()),
        ..filter.clone()
    };
    let report = lux
        .analytics_recommendations(project, &only_big)
        .await
        .unwrap();
    assert!(report.items.is_empty(), "{report:#?}");
}

/// Filters the daily rollup answers: no model, time bounds on UTC midnights.
fn day_aligned_filters(raw: &Raw) -> Vec<AnalyticsFilter> {
    let mut times: Vec<DateTime<Utc>> = raw.steps.iter().map(|x| x.created_at).collect();
    times.sort();
    let midnight = |at: DateTime<Utc>| day(at).and_hms_opt(0, 0, 0).unwrap().and_utc();
    let middle = midnight(times[times.len() / 2]);
    vec![
        AnalyticsFilter::default(),
        AnalyticsFilter {
            since: Some(middle - Duration::days(3)),
            until: Some(middle + Duration::days(2)),
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            tool: Some(raw.sessions[0].tool.clone()),
            since: Some(midnight(times[0]) + Duration::days(1)),
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            user_id: raw.sessions.iter().find_map(|s| s.user_id.clone()),
            until: Some(middle),
            ..AnalyticsFilter::default()
        },
    ]
}

async fn overview_from_the_rollup_equals_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    for filter in day_aligned_filters(&raw) {
        let overview = lux.analytics_overview(project, &filter).await.unwrap();
        assert_eq!(overview, expected_overview(&raw, &filter), "{filter:?}");
    }

    // Deleting a session (its rows go by cascade) and re-running the detectors (findings and
    // alerts replaced) keep the rollup exact.
    let gone = raw.sessions[1].id;
    lux.delete_session(project, &SessionRef::Id(gone), &Actor::new("test"))
        .await
        .unwrap();
    lux.analyze_session(project, &SessionRef::Id(raw.sessions[2].id))
        .await
        .unwrap();
    let raw = self::raw(lux, project).await;
    assert!(raw.sessions.iter().all(|s| s.id != gone));
    for filter in day_aligned_filters(&raw) {
        let overview = lux.analytics_overview(project, &filter).await.unwrap();
        assert_eq!(overview, expected_overview(&raw, &filter), "{filter:?}");
    }

    // Day-aligned overviews are read from the rollup, others from the rows: tampering with the
    // rollup shows in the first only.
    let backend = lux.db().get_database_backend();
    let tamper = |delta: i64| {
        sea_orm::Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => "UPDATE analytics_daily SET steps = steps + $1",
                _ => "UPDATE analytics_daily SET steps = steps + ?",
            },
            [delta.into()],
        )
    };
    lux.db().execute_raw(tamper(1000)).await.unwrap();
    let aligned = lux
        .analytics_overview(project, &AnalyticsFilter::default())
        .await
        .unwrap();
    let model = AnalyticsFilter {
        model: Some(raw.calls[0].model.clone()),
        ..AnalyticsFilter::default()
    };
    let by_model = lux.analytics_overview(project, &model).await.unwrap();
    lux.db().execute_raw(tamper(-1000)).await.unwrap();
    assert!(aligned.totals.steps >= 1000 + raw.steps.len() as i64);
    assert_eq!(by_model, expected_overview(&raw, &model));

    // Rows written before the migration are counted when it runs.
    revert_migrations_from(lux, "analytics_daily").await;
    lux_migration::Migrator::up(lux.db(), None).await.unwrap();
    for filter in day_aligned_filters(&raw) {
        let overview = lux.analytics_overview(project, &filter).await.unwrap();
        assert_eq!(overview, expected_overview(&raw, &filter), "{filter:?}");
    }
}

/// Every report for `filter` equals its computation over the raw rows.
async fn assert_reports_equal_raw(
    lux: &Lux,
    project: ProjectId,
    raw: &Raw,
    filter: &AnalyticsFilter,
) {
    let overview = lux.analytics_overview(project, filter).await.unwrap();
    assert_eq!(overview, expected_overview(raw, filter), "{filter:?}");
    for group_by in [
        CostGroup::Model,
        CostGroup::Day,
        CostGroup::Tool,
        CostGroup::User,
        CostGroup::Session,
        CostGroup::Project,
    ] {
        let report = lux
            .analytics_costs(project, filter, group_by, Some(1000))
            .await
            .unwrap();
        assert_eq!(
            report,
            expected_costs(raw, filter, group_by),
            "{group_by:?} {filter:?}"
        );
    }
    let models = lux.analytics_models(project, filter).await.unwrap();
    assert_models_eq(
        &models,
        &expected_models(raw, filter),
        &format!("{filter:?}"),
    );
    for group_by in [
        BiasGroup::BiasType,
        BiasGroup::Severity,
        BiasGroup::Detector,
        BiasGroup::Day,
        BiasGroup::Model,
        BiasGroup::Tool,
    ] {
        let report = lux
            .analytics_bias_rates(project, filter, group_by)
            .await
            .unwrap();
        assert_eq!(
            report,
            expected_bias_rates(raw, filter, group_by),
            "{group_by:?} {filter:?}"
        );
    }
    for group_by in [MonitorGroup::Kind, MonitorGroup::Day] {
        let report = lux
            .analytics_monitor(project, filter, group_by)
            .await
            .unwrap();
        assert_eq!(
            report,
            expected_monitor(raw, filter, group_by),
            "{group_by:?} {filter:?}"
        );
    }
}

/// Ranges that start or end inside a day, lie inside one day, cross one midnight only, or are
/// empty: the per-session rollups answer their whole days and the raw rows the rest.
fn ragged_filters(raw: &Raw) -> Vec<AnalyticsFilter> {
    let mut times: Vec<DateTime<Utc>> = raw.steps.iter().map(|x| x.created_at).collect();
    times.sort();
    let middle = times[times.len() / 2];
    let midnight = day(middle).and_hms_opt(0, 0, 0).unwrap().and_utc();
    let noon = midnight + Duration::hours(12);
    let window = |since: DateTime<Utc>, until: DateTime<Utc>| AnalyticsFilter {
        since: Some(since),
        until: Some(until),
        ..AnalyticsFilter::default()
    };
    vec![
        window(noon - Duration::days(4), noon + Duration::days(1)),
        window(
            middle - Duration::minutes(90),
            middle + Duration::minutes(90),
        ),
        window(midnight - Duration::hours(7), midnight + Duration::hours(7)),
        window(middle, middle),
        AnalyticsFilter {
            since: Some(middle),
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            tool: Some(raw.sessions[0].tool.clone()),
            until: Some(noon),
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            model: Some(raw.calls[0].model.clone()),
            since: Some(noon - Duration::days(5)),
            until: Some(middle + Duration::days(1)),
            ..AnalyticsFilter::default()
        },
        AnalyticsFilter {
            user_id: raw.sessions.iter().find_map(|s| s.user_id.clone()),
            since: Some(noon - Duration::days(9)),
            ..AnalyticsFilter::default()
        },
    ]
}

/// Writes to `session` on each of the `days` after its creation: a step, a call of `model`, a
/// finding and an alert, so that one session is active on several days.
async fn spread_over_days(
    lux: &Lux,
    project: ProjectId,
    session: &Session,
    model: &str,
    days: &[i64],
) {
    let reference = SessionRef::Id(session.id);
    for (i, days) in days.iter().enumerate() {
        let at = session.created_at + Duration::days(*days);
        let step = lux
            .append_step(
                project,
                &reference,
                NewStep {
                    confidence: Some(0.25 + 0.1 * i as f64),
                    created_at: Some(at),
                    ..thought("A later look at the same question, days on.")
                },
            )
            .await
            .unwrap()
            .value;
        lux.record_model_call(
            project,
            &reference,
            NewModelCall {
                step_id: Some(step.id),
                latency_ms: 700 + 300 * i as i64,
                created_at: Some(at),
                ..NewModelCall::ok("acme", model, 1200, 300)
            },
        )
        .await
        .unwrap();
        lux.record_finding(
            project,
            &reference,
            NewFinding {
                id: None,
                step_id: Some(step.id),
                detector: "test.later".into(),
                detector_version: "1".into(),
                bias_type: "anchoring".into(),
                severity: Severity::Medium,
                confidence: 0.8,
                explanation: "Still anchored on the first estimate.".into(),
                evidence: None,
                suggestion: None,
                created_at: Some(at),
            },
        )
        .await
        .unwrap();
        lux.record_monitor_event(
            project,
            &reference,
            NewMonitorEvent {
                id: None,
                step_id: Some(step.id),
                kind: "circular_reasoning".into(),
                severity: Severity::High,
                score: 0.7,
                message: "Back to the first idea.".into(),
                data: None,
                created_at: Some(at),
            },
        )
        .await
        .unwrap();
    }
}

async fn reports_from_the_session_rollups_equal_raw_rows(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    // Sessions active on several days: distinct sessions must still count once per group.
    spread_over_days(lux, project, &raw.sessions[0], "rollup-test-model", &[1, 3]).await;
    let model = raw.calls[0].model.clone();
    spread_over_days(lux, project, &raw.sessions[3], &model, &[0, 1, 2]).await;
    // A session created without a main model takes its first call's, after its first step is
    // counted: the rows counted before must follow it.
    let (_, adopting, _) = crate::support::session(lux, "planner").await;
    spread_over_days(lux, project, &adopting, "adopted-model", &[0, 2]).await;
    // A call on a day the session has no step: that day counts it as calling, once.
    lux.record_model_call(
        project,
        &SessionRef::Id(raw.sessions[0].id),
        NewModelCall {
            latency_ms: 900,
            created_at: Some(raw.sessions[0].created_at + Duration::days(5)),
            ..NewModelCall::ok("acme", &model, 800, 200)
        },
    )
    .await
    .unwrap();
    let raw = self::raw(lux, project).await;
    assert_eq!(
        raw.sessions
            .iter()
            .find(|s| s.id == adopting.id)
            .and_then(|s| s.model.as_deref()),
        Some("adopted-model")
    );
    let all_filters = |raw: &Raw| {
        let mut all = day_aligned_filters(raw);
        all.extend(ragged_filters(raw));
        all.extend(filters(raw));
        all
    };
    assert_day_rollups_add_up(lux).await;
    for filter in all_filters(&raw) {
        assert_reports_equal_raw(lux, project, &raw, &filter).await;
    }

    // Deleting a session (its rows go by cascade), re-running the detectors (findings and alerts
    // replaced) and moving a call keep the rollups exact.
    let gone = raw.sessions[1].id;
    lux.delete_session(project, &SessionRef::Id(gone), &Actor::new("test"))
        .await
        .unwrap();
    lux.analyze_session(project, &SessionRef::Id(raw.sessions[2].id))
        .await
        .unwrap();
    let backend = lux.db().get_database_backend();
    let statement = |postgres: &str, sqlite: &str, values: Vec<sea_orm::Value>| {
        let sql = match backend {
            sea_orm::DbBackend::Postgres => postgres,
            _ => sqlite,
        };
        sea_orm::Statement::from_sql_and_values(backend, sql, values)
    };
    let moved = raw.calls.iter().find(|c| c.session_id != gone).unwrap();
    lux.db()
        .execute_raw(statement(
            "UPDATE model_calls SET latency_ms = 999999, model = 'moved-model', cost_nusd = cost_nusd + 5 WHERE id = $1",
            "UPDATE model_calls SET latency_ms = 999999, model = 'moved-model', cost_nusd = cost_nusd + 5 WHERE id = ?",
            vec![moved.id.0.into()],
        ))
        .await
        .unwrap();
    let raw = self::raw(lux, project).await;
    assert!(raw.sessions.iter().all(|s| s.id != gone));
    assert!(raw.calls.iter().any(|c| c.model == "moved-model"));
    assert_day_rollups_add_up(lux).await;
    for filter in all_filters(&raw) {
        assert_reports_equal_raw(lux, project, &raw, &filter).await;
    }

    // Whole days are read from the rollups, partial ones from the rows: tampering with the
    // per-session rollup (which the day rollups follow: SQLite's triggers carry it over,
    // PostgreSQL's mark the day stale) shows in the first only.
    let tamper = |delta: i64| {
        statement(
            "UPDATE analytics_session_calls SET cost_nusd = cost_nusd + $1 WHERE calls > 0",
            "UPDATE analytics_session_calls SET cost_nusd = cost_nusd + ? WHERE calls > 0",
            vec![delta.into()],
        )
    };
    let rollup_rows = lux
        .db()
        .query_one_raw(statement(
            "SELECT COUNT(*) AS n FROM analytics_session_calls WHERE calls > 0 AND project_id = $1",
            "SELECT COUNT(*) AS n FROM analytics_session_calls WHERE calls > 0 AND project_id = ?",
            vec![project.0.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    let inside_one_day = ragged_filters(&raw)[1].clone();
    lux.db().execute_raw(tamper(1000)).await.unwrap();
    let whole = lux
        .analytics_costs(project, &AnalyticsFilter::default(), CostGroup::Model, None)
        .await
        .unwrap();
    let partial = lux
        .analytics_costs(project, &inside_one_day, CostGroup::Model, None)
        .await
        .unwrap();
    lux.db().execute_raw(tamper(-1000)).await.unwrap();
    let expected = expected_costs(&raw, &AnalyticsFilter::default(), CostGroup::Model);
    assert_eq!(
        whole.total.cost.0,
        expected.total.cost.0 + 1000 * rollup_rows
    );
    assert_eq!(
        partial,
        expected_costs(&raw, &inside_one_day, CostGroup::Model)
    );
    // Whole days of bias rates come from the cross-session day rollup (on PostgreSQL once a
    // refresh has caught up with the writes).
    assert_day_rollups_add_up(lux).await;
    let tamper = |delta: i64| {
        statement(
            "UPDATE analytics_day_signals SET n = n + $1 \
             WHERE project_id = $2 AND source = 'finding' AND dim = 'kind' AND n > 0",
            "UPDATE analytics_day_signals SET n = n + ? \
             WHERE project_id = ? AND source = 'finding' AND dim = 'kind' AND n > 0",
            vec![delta.into(), project.0.into()],
        )
    };
    let tampered = lux
        .db()
        .execute_raw(tamper(7))
        .await
        .unwrap()
        .rows_affected() as i64;
    let whole = lux
        .analytics_bias_rates(project, &AnalyticsFilter::default(), BiasGroup::BiasType)
        .await
        .unwrap();
    lux.db().execute_raw(tamper(-7)).await.unwrap();
    let expected = expected_bias_rates(&raw, &AnalyticsFilter::default(), BiasGroup::BiasType);
    let findings =
        |report: &BiasRateReport| -> i64 { report.rows.iter().map(|r| r.findings).sum() };
    assert!(tampered > 0);
    assert_eq!(findings(&whole), findings(&expected) + 7 * tampered);

    // Rows written before the migration are counted when it runs.
    revert_migrations_from(lux, "analytics_sessions").await;
    lux_migration::Migrator::up(lux.db(), None).await.unwrap();
    assert_day_rollups_add_up(lux).await;
    for filter in all_filters(&raw) {
        assert_reports_equal_raw(lux, project, &raw, &filter).await;
    }

    // A model adopted while the trigger following it was missing is repaired when it returns.
    revert_migrations_from(lux, "adopted_session_model").await;
    // Written as by the Lux of that schema, which had no analysis queue to put jobs in.
    let older = lux
        .clone()
        .with_detectors(lux_core::detect::DetectorRegistry::empty());
    let (_, late, _) = crate::support::session(&older, "planner").await;
    spread_over_days(&older, project, &late, "late-model", &[0, 1]).await;
    lux_migration::Migrator::up(lux.db(), None).await.unwrap();
    let raw = self::raw(lux, project).await;
    assert_day_rollups_add_up(lux).await;
    for filter in all_filters(&raw) {
        assert_reports_equal_raw(lux, project, &raw, &filter).await;
    }
}

/// A refresh of the day rollups while a writer's transaction is open leaves that writer's days
/// stale on PostgreSQL, so reports stay exact once it commits, and the next refresh takes them.
/// (On SQLite the writer's triggers keep the rollups and a refresh has nothing to do.)
async fn a_refresh_during_a_write_loses_nothing(lux: &Lux) {
    let (project, raw) = demo_data(lux).await;
    lux.refresh_day_rollups().await.unwrap();
    let backend = lux.db().get_database_backend();
    let statement = |sql: &str, id: uuid::Uuid| {
        let sql = match backend {
            sea_orm::DbBackend::Postgres => sql.replace('?', "$1"),
            _ => sql.to_owned(),
        };
        sea_orm::Statement::from_sql_and_values(backend, sql, vec![id.into()])
    };
    let (finding, call) = (raw.findings[0].id, raw.calls[0].id);
    // A committed write already marks the day the writer below changes: that mark goes with the
    // refresh, and the writer's own must outlive it.
    lux.db()
        .execute_raw(statement(
            "UPDATE model_calls SET cost_nusd = cost_nusd + 1 WHERE id = ?",
            call.0,
        ))
        .await
        .unwrap();
    let writer = sea_orm::TransactionTrait::begin(lux.db()).await.unwrap();
    writer
        .execute_raw(statement(
            "DELETE FROM bias_findings WHERE id = ?",
            finding.0,
        ))
        .await
        .unwrap();
    writer
        .execute_raw(statement(
            "UPDATE model_calls SET cost_nusd = cost_nusd + 1000 WHERE id = ?",
            call.0,
        ))
        .await
        .unwrap();
    lux.refresh_day_rollups().await.unwrap();
    writer.commit().await.unwrap();

    let raw = self::raw(lux, project).await;
    assert!(raw.findings.iter().all(|f| f.id != finding));
    let filters = day_aligned_filters(&raw);
    for filter in &filters {
        assert_reports_equal_raw(lux, project, &raw, filter).await;
    }
    // Refreshes, then checks the tables.
    assert_day_rollups_add_up(lux).await;
    for filter in &filters {
        assert_reports_equal_raw(lux, project, &raw, filter).await;
    }
}

/// The cross-session day rollups hold what the per-session rows add up to, apart from rows of
/// zeros that deletions leave behind: on SQLite as its triggers keep them (migration 14). On
/// PostgreSQL (migration 15), the views reports read hold it before a refresh, and the tables
/// after one.
async fn assert_day_rollups_add_up(lux: &Lux) {
    let backend = lux.db().get_database_backend();
    let signals = |dim: &str, value: &str, severity: &str| {
        (
            format!(
                "SELECT project_id, source, '{dim}' AS dim, day, {value} AS value, {severity} AS severity, \
                 tool, SUM(n) AS n, COUNT(DISTINCT CASE WHEN n > 0 THEN session_id END) AS sessions \
                 FROM analytics_session_signals GROUP BY 1, 2, 3, 4, 5, 6, 7"
            ),
            format!(
                "SELECT project_id, source, dim, day, value, severity, tool, n, sessions \
                 FROM analytics_day_signals{{}} WHERE dim = '{dim}'"
            ),
            "n <> 0 OR sessions <> 0",
        )
    };
    let calls = |dim: &str, value: &str, provider: &str| {
        const SUMS: &str = "SUM(calls) AS calls, SUM(failed_calls) AS failed_calls, \
            SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, \
            SUM(cached_input_tokens) AS cached_input_tokens, \
            SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_nusd) AS cost_nusd";
        (
            format!(
                "SELECT project_id, '{dim}' AS dim, day, {value} AS value, {provider} AS provider, \
                 tool, {SUMS}, COUNT(DISTINCT CASE WHEN calls > 0 THEN session_id END) AS sessions \
                 FROM analytics_session_calls GROUP BY 1, 2, 3, 4, 5, 6"
            ),
            format!(
                "SELECT project_id, dim, day, value, provider, tool, calls, failed_calls, \
                 input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd, \
                 sessions FROM analytics_day_calls{{}} WHERE dim = '{dim}'"
            ),
            "calls <> 0 OR input_tokens <> 0 OR cost_nusd <> 0 OR sessions <> 0",
        )
    };
    let flag = |condition: &str| format!("SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)");
    let checks = [
        (
            format!(
                "SELECT project_id, day, tool, coalesce(session_model, '') AS model_key, \
                 SUM(steps) AS steps, SUM(confident_steps) AS confident_steps, \
                 round(CAST(SUM(confidence_sum) AS NUMERIC), 9) AS confidence_sum, \
                 SUM(findings) AS findings, SUM(alerts) AS alerts, \
                 {} AS finding_active, {} AS alert_active, {} AS with_findings, \
                 {} AS with_alerts FROM analytics_session_days GROUP BY 1, 2, 3, 4",
                flag("steps > 0 OR findings > 0"),
                flag("steps > 0 OR alerts > 0"),
                flag("findings > 0"),
                flag("alerts > 0")
            ),
            "SELECT project_id, day, tool, model_key, steps, confident_steps, \
             round(CAST(confidence_sum AS NUMERIC), 9) AS confidence_sum, findings, alerts, \
             finding_active, alert_active, with_findings, with_alerts \
             FROM analytics_day_activity{}"
                .to_owned(),
            "steps <> 0 OR findings <> 0 OR alerts <> 0 OR finding_active <> 0 \
             OR alert_active <> 0",
        ),
        signals("kind", "kind", "''"),
        signals("severity", "severity", "''"),
        signals("detector", "detector", "''"),
        signals("class", "kind", "severity"),
        calls("model", "model", "''"),
        calls("any", "''", "''"),
        calls("route", "model", "provider"),
        (
            "SELECT project_id, day, session_id FROM (SELECT project_id, day, session_id \
             FROM analytics_session_days UNION SELECT project_id, day, session_id \
             FROM analytics_session_calls) a WHERE session_id IN (SELECT session_id FROM \
             (SELECT session_id, day FROM analytics_session_days UNION \
             SELECT session_id, day FROM analytics_session_calls) m \
             GROUP BY session_id HAVING COUNT(*) > 1)"
                .to_owned(),
            "SELECT project_id, day, session_id FROM analytics_session_spans".to_owned(),
            "true",
        ),
    ];
    let count = |sql: String| async move {
        lux.db()
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
    };
    // What each check reads: SQLite's tables; PostgreSQL's views, then its refreshed tables.
    let mut readings = vec![""];
    if backend == sea_orm::DbBackend::Postgres {
        readings = vec!["_current", ""];
    }
    for reading in readings {
        if reading.is_empty() {
            lux.refresh_day_rollups().await.unwrap();
        }
        for (expected, actual, counted) in &checks {
            let actual = actual.replace("{}", reading);
            for (left, right) in [(expected, &actual), (&actual, expected)] {
                let sql = format!(
                    "SELECT COUNT(*) AS n FROM (SELECT * FROM ({left}) l WHERE {counted} \
                     EXCEPT SELECT * FROM ({right}) r WHERE {counted}) d"
                );
                assert_eq!(count(sql).await, 0, "rows of {left} missing from {right}");
            }
        }
    }
    if backend == sea_orm::DbBackend::Postgres {
        let stale = "SELECT COUNT(*) AS n FROM analytics_stale_days".to_owned();
        assert_eq!(count(stale).await, 0, "a refresh leaves no day stale");
    }
}

/// Reverts the migration whose name contains `name` and every later one.
async fn revert_migrations_from(lux: &Lux, name: &str) {
    let migrations = lux_migration::Migrator::migrations();
    let position = migrations
        .iter()
        .position(|m| m.name().contains(name))
        .unwrap();
    let later = (migrations.len() - position) as u32;
    lux_migration::Migrator::down(lux.db(), Some(later))
        .await
        .unwrap();
}

/// Rows SQLite's planner statistics last counted in `steps` (none before they were taken).
async fn steps_in_statistics(lux: &Lux) -> Option<i64> {
    let row = lux
        .db()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT stat FROM sqlite_stat1 WHERE tbl = 'steps' AND idx = 'idx_steps_session_id_step_number'",
        ))
        .await
        .ok()??;
    let stat: String = row.try_get("", "stat").unwrap();
    stat.split(' ').next()?.parse().ok()
}

/// SQLite plans the reports with statistics of the data it holds: taken when a file with data is
/// opened, and taken again on request once a table has grown tenfold.
#[tokio::test]
async fn sqlite_planner_statistics_follow_the_data() {
    let db = lux_core::testing::TestDb::sqlite().await;
    assert_eq!(
        steps_in_statistics(&db.lux).await,
        None,
        "nothing to count yet"
    );
    let project = db.lux.default_project();
    let small = lux_core::bulk::BulkOptions {
        sessions: 5,
        steps: 100,
        days: 3,
        seed: 1,
    };
    db.lux.fill_bulk(project, &small, |_| {}).await.unwrap();

    let reopened = Lux::open(DatabaseOptions::new(&db.url)).await.unwrap();
    assert_eq!(steps_in_statistics(&reopened).await, Some(100));

    let large = lux_core::bulk::BulkOptions {
        sessions: 50,
        steps: 1_500,
        days: 3,
        seed: 2,
    };
    reopened.fill_bulk(project, &large, |_| {}).await.unwrap();
    assert_eq!(
        steps_in_statistics(&reopened).await,
        Some(100),
        "until asked"
    );
    reopened.refresh_planner_statistics().await.unwrap();
    assert_eq!(steps_in_statistics(&reopened).await, Some(1_600));
}
