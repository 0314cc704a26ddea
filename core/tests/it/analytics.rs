//! Analytics: every report equals the same figure computed in Rust over the raw rows, on both backends.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use lux_core::demo::DemoOptions;
use lux_core::*;

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
            }
        })
        .collect();
    models.sort_by(|a, b| {
        b.model_calls
            .cmp(&a.model_calls)
            .then(a.model.cmp(&b.model))
    });
    models
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
        };
        groups.entry(key).or_default().push(finding);
    }
    let mut rows: Vec<BiasRateRow> = groups
        .into_iter()
        .map(|(key, group)| {
            let (n_steps, n_sessions) = if group_by == BiasGroup::Day {
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
        assert_eq!(models, expected_models(&raw, &filter), "{filter:?}");
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
    session_summaries_equal_raw_rows,
    summary_of_a_fresh_session_and_of_another_project,
    empty_projects_and_bad_filters,
);
