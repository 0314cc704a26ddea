//! `lux analytics …`: the headline reports of the REST analytics in the terminal, as tables or as
//! the same JSON the REST API returns.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use lux_core::{
    AnalyticsFilter, BiasGroup, CostGroup, Lux, MonitorGroup, NanoUsd, ProjectId,
    RecommendationKind,
};
use poem_openapi::types::ToJSON;

use crate::config::GlobalArgs;
use crate::rest::analytics::{
    BiasRateReportDto, CostReportDto, ModelStatsDto, MonitorReportDto, OverviewDto,
    RecommendationReportDto,
};

#[derive(Debug, Subcommand)]
pub(crate) enum AnalyticsCommand {
    /// Sessions, steps, calls, tokens, cost, findings and alerts per UTC day, with totals.
    Overview(ReportArgs),
    /// Model-call cost by model, day, tool, user or session.
    Costs {
        #[arg(long, value_enum, default_value_t = CostBy::Model)]
        group_by: CostBy,
        /// Most groups shown, 1 to 1000.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Per model: calls, errors, latency, tokens, cost, step confidence and bias rate.
    Models(ReportArgs),
    /// Bias findings per 100 steps and the share of sessions affected.
    BiasRates {
        #[arg(long, value_enum, default_value_t = BiasBy::BiasType)]
        group_by: BiasBy,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Monitor alerts per 100 steps, sessions affected and severities.
    Monitor {
        #[arg(long, value_enum, default_value_t = MonitorBy::Kind)]
        group_by: MonitorBy,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Cheaper models that did as well, and slow or failing models.
    Recommendations(ReportArgs),
}

/// The filters every report takes, and the output format.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// At or after: RFC 3339, a `YYYY-MM-DD` UTC day, or an age such as `7d` or `12h`.
    #[arg(long)]
    since: Option<String>,
    /// Before: same forms as `--since`.
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    tool: Option<String>,
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    /// The REST API's JSON.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum CostBy {
    Model,
    Day,
    Tool,
    User,
    Session,
    Project,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum BiasBy {
    #[value(alias = "bias-type")]
    BiasType,
    Severity,
    Detector,
    Day,
    Model,
    Tool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum MonitorBy {
    Kind,
    Day,
}

impl ReportArgs {
    fn filter(&self, now: DateTime<Utc>) -> anyhow::Result<AnalyticsFilter> {
        Ok(AnalyticsFilter {
            since: self
                .since
                .as_deref()
                .map(|text| parse_time("--since", text, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|text| parse_time("--until", text, now))
                .transpose()?,
            tool: self.tool.clone(),
            model: self.model.clone(),
            user_id: self.user.clone(),
        })
    }
}

/// RFC 3339, a UTC day, or an age back from `now` (`30m`, `12h`, `7d`, `2w`).
fn parse_time(flag: &str, text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    let split = text.len().saturating_sub(1);
    let age = text
        .get(..split)
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .and_then(|n| match &text[split..] {
            "m" => Duration::try_minutes(n),
            "h" => Duration::try_hours(n),
            "d" => Duration::try_days(n),
            "w" => Duration::try_weeks(n),
            _ => None,
        });
    match age.and_then(|age| now.checked_sub_signed(age)) {
        Some(at) => Ok(at),
        None => anyhow::bail!(
            "{flag} {text:?}: expected RFC 3339 (2026-01-31T12:00:00Z), a day (2026-01-31) \
             or an age (30m, 12h, 7d, 2w)"
        ),
    }
}

pub(crate) async fn run(global: &GlobalArgs, command: AnalyticsCommand) -> anyhow::Result<()> {
    let lux = global.open().await?;
    let project = lux.default_project();
    report(&lux, project, command).await
}

async fn report(lux: &Lux, project: ProjectId, command: AnalyticsCommand) -> anyhow::Result<()> {
    let now = Utc::now();
    match command {
        AnalyticsCommand::Overview(args) => {
            let overview = lux.analytics_overview(project, &args.filter(now)?).await?;
            if args.format == Format::Json {
                return print_json(&OverviewDto::from(overview));
            }
            let mut table = table(&[
                "day",
                "sessions",
                "steps",
                "calls",
                "tokens in",
                "tokens out",
                "cost",
                "findings",
                "alerts",
            ]);
            let rows = overview
                .series
                .iter()
                .map(|day| (day.day.to_string(), day.counts))
                .chain([("total".to_owned(), overview.totals)]);
            for (day, counts) in rows {
                table.add_row([
                    day,
                    counts.sessions.to_string(),
                    counts.steps.to_string(),
                    counts.model_calls.to_string(),
                    counts.tokens.input.to_string(),
                    counts.tokens.output.to_string(),
                    counts.cost.to_string(),
                    counts.findings.to_string(),
                    counts.alerts.to_string(),
                ]);
            }
            println!("{table}");
        }
        AnalyticsCommand::Costs {
            group_by,
            limit,
            report,
        } => {
            let group_by = match group_by {
                CostBy::Model => CostGroup::Model,
                CostBy::Day => CostGroup::Day,
                CostBy::Tool => CostGroup::Tool,
                CostBy::User => CostGroup::User,
                CostBy::Session => CostGroup::Session,
                CostBy::Project => CostGroup::Project,
            };
            let costs = lux
                .analytics_costs(project, &report.filter(now)?, group_by, Some(limit))
                .await?;
            if report.format == Format::Json {
                return print_json(&CostReportDto::from(costs));
            }
            let mut table = table(&[
                key_name(&format!("{group_by:?}")).as_str(),
                "calls",
                "sessions",
                "tokens in",
                "tokens out",
                "cost",
            ]);
            let rows = costs.rows.iter().chain([&costs.total]);
            let n_rows = costs.rows.len();
            for (i, row) in rows.enumerate() {
                let key = if i == n_rows {
                    "total".to_owned()
                } else {
                    row.key.clone().unwrap_or_else(|| "-".to_owned())
                };
                table.add_row([
                    key,
                    row.model_calls.to_string(),
                    row.sessions.to_string(),
                    row.tokens.input.to_string(),
                    row.tokens.output.to_string(),
                    row.cost.to_string(),
                ]);
            }
            println!("{table}");
        }
        AnalyticsCommand::Models(args) => {
            let models = lux.analytics_models(project, &args.filter(now)?).await?;
            if args.format == Format::Json {
                let items: Vec<ModelStatsDto> = models.into_iter().map(Into::into).collect();
                return print_json(&items);
            }
            let mut table = table(&[
                "model",
                "calls",
                "errors",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "tokens in",
                "tokens out",
                "cost",
                "steps",
                "mean conf",
                "findings/100 steps",
            ]);
            for stats in &models {
                table.add_row([
                    stats.model.clone(),
                    stats.model_calls.to_string(),
                    percent(stats.error_rate),
                    stats.latency_ms.p50.to_string(),
                    stats.latency_ms.p95.to_string(),
                    stats.latency_ms.p99.to_string(),
                    stats.tokens.input.to_string(),
                    stats.tokens.output.to_string(),
                    stats.cost.to_string(),
                    stats.steps.to_string(),
                    stats
                        .mean_step_confidence
                        .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}")),
                    format!("{:.1}", stats.findings_per_100_steps),
                ]);
            }
            println!("{table}");
        }
        AnalyticsCommand::BiasRates { group_by, report } => {
            let group_by = match group_by {
                BiasBy::BiasType => BiasGroup::BiasType,
                BiasBy::Severity => BiasGroup::Severity,
                BiasBy::Detector => BiasGroup::Detector,
                BiasBy::Day => BiasGroup::Day,
                BiasBy::Model => BiasGroup::Model,
                BiasBy::Tool => BiasGroup::Tool,
            };
            let rates = lux
                .analytics_bias_rates(project, &report.filter(now)?, group_by)
                .await?;
            if report.format == Format::Json {
                return print_json(&BiasRateReportDto::from(rates));
            }
            let mut table = table(&[
                key_name(&format!("{group_by:?}")).as_str(),
                "findings",
                "sessions affected",
                "steps",
                "sessions",
                "per 100 steps",
                "session share",
            ]);
            for row in rates.rows.iter().chain([&rates.total]) {
                table.add_row([
                    row.key.clone(),
                    row.findings.to_string(),
                    row.sessions_affected.to_string(),
                    row.steps.to_string(),
                    row.sessions.to_string(),
                    format!("{:.2}", row.findings_per_100_steps),
                    percent(row.session_share),
                ]);
            }
            println!("{table}");
        }
        AnalyticsCommand::Monitor { group_by, report } => {
            let group_by = match group_by {
                MonitorBy::Kind => MonitorGroup::Kind,
                MonitorBy::Day => MonitorGroup::Day,
            };
            let alerts = lux
                .analytics_monitor(project, &report.filter(now)?, group_by)
                .await?;
            if report.format == Format::Json {
                return print_json(&MonitorReportDto::from(alerts));
            }
            let mut table = table(&[
                key_name(&format!("{group_by:?}")).as_str(),
                "alerts",
                "sessions affected",
                "per 100 steps",
                "session share",
                "low",
                "medium",
                "high",
                "critical",
            ]);
            for row in alerts.rows.iter().chain([&alerts.total]) {
                let severity = row.by_severity;
                table.add_row([
                    row.key.clone(),
                    row.alerts.to_string(),
                    row.sessions_affected.to_string(),
                    format!("{:.2}", row.alerts_per_100_steps),
                    percent(row.session_share),
                    // Severity `none` is informational: shown only in the JSON.
                    severity.low.to_string(),
                    severity.medium.to_string(),
                    severity.high.to_string(),
                    severity.critical.to_string(),
                ]);
            }
            println!("{table}");
        }
        AnalyticsCommand::Recommendations(args) => {
            let advice = lux
                .analytics_recommendations(project, &args.filter(now)?)
                .await?;
            if args.format == Format::Json {
                return print_json(&RecommendationReportDto::from(advice));
            }
            if advice.items.is_empty() {
                println!("no recommendations: nothing in scope stands out");
                return Ok(());
            }
            for (i, item) in advice.items.iter().enumerate() {
                let headline = match item.kind {
                    RecommendationKind::SwitchModel => format!(
                        "switch {} → {}: saves {} over the period, about {} a month",
                        item.model,
                        item.alternative.as_deref().unwrap_or("?"),
                        item.saving.unwrap_or(NanoUsd::ZERO),
                        item.monthly_saving.unwrap_or(NanoUsd::ZERO),
                    ),
                    RecommendationKind::FailingModel => format!("failing model {}", item.model),
                    RecommendationKind::SlowModel => format!("slow model {}", item.model),
                };
                println!("{}. {headline}", i + 1);
                println!("   {}", item.reason);
            }
        }
    }
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(header.iter().copied());
    table
}

/// `BiasType` → `bias type`: the group's name as a column heading.
fn key_name(group: &str) -> String {
    let mut name = String::new();
    for c in group.chars() {
        if c.is_uppercase() && !name.is_empty() {
            name.push(' ');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn print_json(value: &impl ToJSON) -> anyhow::Result<()> {
    let json = value.to_json().unwrap_or(serde_json::Value::Null);
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_three_forms() {
        let now = "2026-03-10T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = |text| parse_time("--since", text, now).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-03-01T08:30:00+01:00").unwrap(),
            "2026-03-01T07:30:00+00:00"
        );
        assert_eq!(at("2026-03-01").unwrap(), "2026-03-01T00:00:00+00:00");
        assert_eq!(at("7d").unwrap(), "2026-03-03T12:00:00+00:00");
        assert_eq!(at("12h").unwrap(), "2026-03-10T00:00:00+00:00");
        for bad in ["yesterday", "-3d", "7y", "d", "", "2026-13-01"] {
            let error = at(bad).unwrap_err().to_string();
            assert!(error.contains("--since"), "{bad}: {error}");
        }
    }
}
