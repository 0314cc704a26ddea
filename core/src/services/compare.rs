//! Session comparison and synthesis history: two sessions side by side, how a synthesis evolved,
//! and the diff between two of its versions — each one read-only call returning one domain value.
//!
//! Text diffs are word level (`similar`'s Myers diff over words and whitespace). A whole answer
//! shares one deadline: past it the diff degrades to a coarser, still exact, delete/insert of the
//! rest, so a pair of megabyte steps cannot hold a request for long.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use similar::ChangeTag;
use tracing::instrument;

use lux_entity::{action_item, insight, synthesis_version};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::analytics::{Sql, percentile_rank};
use crate::store::{Lux, synthesis_from_rows};

/// Time every diff of one answer may take together before degrading to a coarser diff.
const DIFF_BUDGET: Duration = Duration::from_secs(2);

impl Lux {
    /// Two sessions of `project` side by side (`a` may equal `b`).
    #[instrument(skip_all, fields(project = %project, a = %a, b = %b))]
    pub async fn compare_sessions(
        &self,
        project: ProjectId,
        a: &SessionRef,
        b: &SessionRef,
    ) -> Result<SessionComparison> {
        let a = self.compare_side(project, a).await?;
        let b = self.compare_side(project, b).await?;
        let deadline = Instant::now() + DIFF_BUDGET;

        let mut numbers: BTreeMap<i32, (Option<&Step>, Option<&Step>)> = BTreeMap::new();
        for step in &a.steps {
            numbers.entry(step.step_number).or_default().0 = Some(step);
        }
        for step in &b.steps {
            numbers.entry(step.step_number).or_default().1 = Some(step);
        }
        let findings_a = by_step(&a.steps, &a.findings, |f| f.step_id);
        let findings_b = by_step(&b.steps, &b.findings, |f| f.step_id);
        let alerts_a = by_step(&a.steps, &a.alerts, |e| e.step_id);
        let alerts_b = by_step(&b.steps, &b.alerts, |e| e.step_id);
        let steps = numbers
            .into_iter()
            .map(|(step_number, (step_a, step_b))| {
                let content = word_diff(
                    step_a.map_or("", |s| s.content.as_str()),
                    step_b.map_or("", |s| s.content.as_str()),
                    deadline,
                );
                let alignment = match (step_a, step_b) {
                    (Some(x), Some(y)) if x.kind == y.kind && x.content == y.content => {
                        StepAlignment::Same
                    }
                    (Some(_), Some(_)) => StepAlignment::Changed,
                    (Some(_), None) => StepAlignment::OnlyA,
                    (None, _) => StepAlignment::OnlyB,
                };
                StepPair {
                    step_number,
                    alignment,
                    a: step_a.map(brief),
                    b: step_b.map(brief),
                    content,
                    findings: Sides {
                        a: findings_a.on(step_number),
                        b: findings_b.on(step_number),
                    },
                    alerts: Sides {
                        a: alerts_a.on(step_number),
                        b: alerts_b.on(step_number),
                    },
                }
            })
            .collect();
        let synthesis = synthesis_diff(a.synthesis.as_ref(), b.synthesis.as_ref(), deadline);
        Ok(SessionComparison {
            deltas: FigureDeltas::between(&a.figures, &b.figures),
            steps,
            synthesis,
            session_findings: Sides {
                a: findings_a.unattached,
                b: findings_b.unattached,
            },
            session_alerts: Sides {
                a: alerts_a.unattached,
                b: alerts_b.unattached,
            },
            a: ComparedSession {
                session: a.session,
                figures: a.figures,
            },
            b: ComparedSession {
                session: b.session,
                figures: b.figures,
            },
        })
    }

    /// Every synthesis version of a session with its counts and what it gained and lost.
    #[instrument(skip_all, fields(project = %project, session = %session))]
    pub async fn synthesis_evolution(
        &self,
        project: ProjectId,
        session: &SessionRef,
    ) -> Result<SynthesisEvolution> {
        let found = self.get_session(project, session).await?;
        let versions = self
            .list_synthesis_versions(project, &SessionRef::Id(found.id))
            .await?;
        let mut points = Vec::with_capacity(versions.len());
        let mut previous: Option<&SynthesisVersion> = None;
        for version in &versions {
            let (insights_before, actions_before) = match previous {
                Some(previous) => (
                    previous.insights.as_slice(),
                    previous.action_items.as_slice(),
                ),
                None => (&[][..], &[][..]),
            };
            let insights = list_diff(
                insights_before,
                &version.insights,
                |i| &i.text,
                insight_fields,
            );
            let actions = list_diff(
                actions_before,
                &version.action_items,
                |a| &a.action,
                action_fields,
            );
            points.push(SynthesisEvolutionPoint {
                version: version.version,
                step_number: version.step_number,
                created_at: version.created_at,
                confidence: version.confidence,
                clarity: version.clarity,
                insights: count(version.insights.len()),
                action_items: count(version.action_items.len()),
                insights_gained: insights.added,
                insights_lost: insights.removed,
                action_items_gained: actions.added,
                action_items_lost: actions.removed,
            });
            previous = Some(version);
        }
        Ok(SynthesisEvolution {
            session_id: found.id,
            versions: points,
        })
    }

    /// What changed in a session's synthesis from version `from` to version `to` (either order).
    #[instrument(skip_all, fields(project = %project, session = %session, from, to))]
    pub async fn synthesis_diff(
        &self,
        project: ProjectId,
        session: &SessionRef,
        from: i32,
        to: i32,
    ) -> Result<SynthesisDiff> {
        for (field, version) in [("from", from), ("to", to)] {
            if version < 1 {
                return Err(Error::invalid(
                    field,
                    format!("synthesis versions are numbered from 1, got {version}"),
                ));
            }
        }
        let found = self.get_session(project, session).await?;
        let before = self.synthesis_version(&found, from).await?;
        let after = self.synthesis_version(&found, to).await?;
        Ok(synthesis_diff(
            Some(&before),
            Some(&after),
            Instant::now() + DIFF_BUDGET,
        ))
    }

    async fn synthesis_version(&self, session: &Session, version: i32) -> Result<SynthesisVersion> {
        let row = synthesis_version::Entity::find()
            .filter(synthesis_version::Column::SessionId.eq(session.id.0))
            .filter(synthesis_version::Column::Version.eq(version))
            .one(self.db())
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "synthesis version",
                    format!("{version} of session {}", session.id),
                )
            })?;
        let insights = insight::Entity::find()
            .filter(insight::Column::SynthesisVersionId.eq(row.id))
            .order_by_asc(insight::Column::Position)
            .all(self.db())
            .await?;
        let actions = action_item::Entity::find()
            .filter(action_item::Column::SynthesisVersionId.eq(row.id))
            .order_by_asc(action_item::Column::Position)
            .all(self.db())
            .await?;
        synthesis_from_rows(row, insights, actions)
    }

    async fn compare_side(&self, project: ProjectId, reference: &SessionRef) -> Result<Side> {
        let session = self.get_session(project, reference).await?;
        let by_id = SessionRef::Id(session.id);
        let summary = self.session_summary(project, &by_id).await?;
        let (latency_ms_total, latency_ms_p50) = self.call_latency(session.id).await?;
        Ok(Side {
            figures: SessionFigures {
                steps: summary.steps,
                model_calls: summary.model_calls,
                tokens: summary.tokens,
                cost: summary.cost,
                latency_ms_total,
                latency_ms_p50,
                findings: summary.findings,
                alerts: summary.alerts,
                duration_ms: summary.duration_ms,
                final_confidence: summary.final_confidence,
            },
            steps: self.all_steps(project, &by_id).await?,
            findings: self.list_findings(project, &by_id).await?,
            alerts: self.list_monitor_events(project, &by_id).await?,
            synthesis: self.latest_synthesis(project, &by_id).await?,
            session,
        })
    }

    /// Sum and nearest-rank median of a session's model-call latency, over calls of every status.
    async fn call_latency(&self, session: SessionId) -> Result<(i64, Option<i64>)> {
        let backend = self.db().get_database_backend();
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT) AS total \
             FROM model_calls WHERE session_id = ",
        )
        .bind(session.0);
        let rows = self.db().query_all_raw(sql.statement()).await?;
        let Some(row) = rows.first() else {
            return Ok((0, None));
        };
        let n: i64 = row.try_get("", "n")?;
        let total: i64 = row.try_get("", "total")?;
        if n == 0 {
            return Ok((total, None));
        }
        let mut sql = Sql::new(backend);
        sql.push("SELECT latency_ms FROM model_calls WHERE session_id = ")
            .bind(session.0)
            .push(" ORDER BY latency_ms LIMIT 1 OFFSET ")
            .bind(percentile_rank(50, n) - 1);
        let rows = self.db().query_all_raw(sql.statement()).await?;
        let p50 = match rows.first() {
            Some(row) => Some(row.try_get("", "latency_ms")?),
            None => None,
        };
        Ok((total, p50))
    }
}

/// Everything read about one session of a comparison.
struct Side {
    session: Session,
    figures: SessionFigures,
    steps: Vec<Step>,
    findings: Vec<Finding>,
    alerts: Vec<MonitorEvent>,
    synthesis: Option<SynthesisVersion>,
}

/// Records grouped by the number of the step they were recorded on.
struct ByStep<T> {
    on_step: HashMap<i32, Vec<T>>,
    /// Records on no step (or on one that is gone).
    unattached: Vec<T>,
}

impl<T: Clone> ByStep<T> {
    fn on(&self, step_number: i32) -> Vec<T> {
        self.on_step.get(&step_number).cloned().unwrap_or_default()
    }
}

fn by_step<T: Clone>(
    steps: &[Step],
    records: &[T],
    step_of: fn(&T) -> Option<StepId>,
) -> ByStep<T> {
    let numbers: HashMap<StepId, i32> = steps.iter().map(|s| (s.id, s.step_number)).collect();
    let mut grouped = ByStep {
        on_step: HashMap::new(),
        unattached: Vec::new(),
    };
    for record in records {
        match step_of(record).and_then(|id| numbers.get(&id)) {
            Some(number) => grouped
                .on_step
                .entry(*number)
                .or_default()
                .push(record.clone()),
            None => grouped.unattached.push(record.clone()),
        }
    }
    grouped
}

fn brief(step: &Step) -> StepBrief {
    StepBrief {
        id: step.id,
        kind: step.kind.clone(),
        model: step.model.clone(),
        confidence: step.confidence,
        clarity: step.clarity,
        created_at: step.created_at,
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn point(version: &SynthesisVersion) -> SynthesisPoint {
    SynthesisPoint {
        session_id: version.session_id,
        version: version.version,
        step_number: version.step_number,
        created_at: version.created_at,
        confidence: version.confidence,
        clarity: version.clarity,
    }
}

fn synthesis_diff(
    from: Option<&SynthesisVersion>,
    to: Option<&SynthesisVersion>,
    deadline: Instant,
) -> SynthesisDiff {
    fn understanding(v: Option<&SynthesisVersion>) -> &str {
        v.and_then(|v| v.current_understanding.as_deref())
            .unwrap_or("")
    }
    fn insights(v: Option<&SynthesisVersion>) -> &[Insight] {
        v.map_or(&[], |v| &v.insights)
    }
    fn actions(v: Option<&SynthesisVersion>) -> &[ActionItem] {
        v.map_or(&[], |v| &v.action_items)
    }
    SynthesisDiff {
        from: from.map(point),
        to: to.map(point),
        understanding: word_diff(understanding(from), understanding(to), deadline),
        insights: list_diff(insights(from), insights(to), |i| &i.text, insight_fields),
        action_items: list_diff(actions(from), actions(to), |a| &a.action, action_fields),
        confidence_delta: score_delta(
            from.and_then(|v| v.confidence),
            to.and_then(|v| v.confidence),
        ),
        clarity_delta: score_delta(from.and_then(|v| v.clarity), to.and_then(|v| v.clarity)),
    }
}

/// The identity of an insight or action: lowercase, single spaces, no final punctuation.
fn normalised(text: &str) -> String {
    let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    words
        .join(" ")
        .trim_end_matches(['.', '!', '?', ';', ':', ','])
        .trim_end()
        .to_owned()
}

fn list_diff<T: Clone>(
    before: &[T],
    after: &[T],
    text: fn(&T) -> &str,
    differing: fn(&T, &T) -> Vec<String>,
) -> ListDiff<T> {
    let mut waiting: HashMap<String, VecDeque<usize>> = HashMap::new();
    for (index, item) in after.iter().enumerate() {
        waiting
            .entry(normalised(text(item)))
            .or_default()
            .push_back(index);
    }
    let mut matched = vec![false; after.len()];
    let mut diff = ListDiff::default();
    for item in before {
        let partner = waiting
            .get_mut(&normalised(text(item)))
            .and_then(VecDeque::pop_front);
        match partner {
            Some(index) => {
                matched[index] = true;
                let fields = differing(item, &after[index]);
                if fields.is_empty() {
                    diff.unchanged += 1;
                } else {
                    diff.changed.push(ItemChange {
                        before: item.clone(),
                        after: after[index].clone(),
                        fields,
                    });
                }
            }
            None => diff.removed.push(item.clone()),
        }
    }
    diff.added = after
        .iter()
        .zip(&matched)
        .filter(|(_, matched)| !**matched)
        .map(|(item, _)| item.clone())
        .collect();
    diff
}

fn insight_fields(a: &Insight, b: &Insight) -> Vec<String> {
    let mut fields = Vec::new();
    if a.text != b.text {
        fields.push("text".to_owned());
    }
    if a.confidence != b.confidence {
        fields.push("confidence".to_owned());
    }
    if a.source_step != b.source_step {
        fields.push("source_step".to_owned());
    }
    if a.supported_by_evidence != b.supported_by_evidence {
        fields.push("supported_by_evidence".to_owned());
    }
    fields
}

fn action_fields(a: &ActionItem, b: &ActionItem) -> Vec<String> {
    let mut fields = Vec::new();
    if a.action != b.action {
        fields.push("action".to_owned());
    }
    if a.priority != b.priority {
        fields.push("priority".to_owned());
    }
    if a.rationale != b.rationale {
        fields.push("rationale".to_owned());
    }
    if a.dependencies != b.dependencies {
        fields.push("dependencies".to_owned());
    }
    fields
}

/// A word-level diff from `old` to `new`, in runs. Inside a replacement, the spaces between
/// replaced words join the replacement, so "a b" → "x y" reads as one delete and one insert.
fn word_diff(old: &str, new: &str, deadline: Instant) -> TextDiff {
    let diff = similar::TextDiff::configure()
        .deadline(deadline)
        .diff_words(old, new);
    let mut runs: Vec<DiffOp> = Vec::new();
    for change in diff.iter_all_changes() {
        let op = match change.tag() {
            ChangeTag::Equal => DiffTag::Equal,
            ChangeTag::Insert => DiffTag::Insert,
            ChangeTag::Delete => DiffTag::Delete,
        };
        match runs.last_mut() {
            Some(last) if last.op == op => last.text.push_str(change.value()),
            _ => runs.push(DiffOp {
                op,
                text: change.value().to_owned(),
            }),
        }
    }

    let mut ops: Vec<DiffOp> = Vec::with_capacity(runs.len());
    let (mut deleted, mut inserted) = (String::new(), String::new());
    let flush = |ops: &mut Vec<DiffOp>, deleted: &mut String, inserted: &mut String| {
        for (op, text) in [(DiffTag::Delete, deleted), (DiffTag::Insert, inserted)] {
            if !text.is_empty() {
                ops.push(DiffOp {
                    op,
                    text: std::mem::take(text),
                });
            }
        }
    };
    for (index, run) in runs.iter().enumerate() {
        match run.op {
            DiffTag::Delete => deleted.push_str(&run.text),
            DiffTag::Insert => inserted.push_str(&run.text),
            DiffTag::Equal => {
                let replacing = !deleted.is_empty() && !inserted.is_empty();
                let more_follows = runs.get(index + 1).is_some_and(|n| n.op != DiffTag::Equal);
                if replacing && more_follows && run.text.trim().is_empty() {
                    deleted.push_str(&run.text);
                    inserted.push_str(&run.text);
                } else {
                    flush(&mut ops, &mut deleted, &mut inserted);
                    ops.push(run.clone());
                }
            }
        }
    }
    flush(&mut ops, &mut deleted, &mut inserted);
    TextDiff {
        ops,
        similarity: if old.is_empty() && new.is_empty() {
            1.0
        } else {
            // `similar` reports an f32; three decimals say all it knows, and read cleanly.
            (f64::from(diff.ratio()) * 1000.0).round() / 1000.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(old: &str, new: &str) -> Vec<(DiffTag, String)> {
        word_diff(old, new, Instant::now() + DIFF_BUDGET)
            .ops
            .into_iter()
            .map(|op| (op.op, op.text))
            .collect()
    }

    #[test]
    fn replaced_words_read_as_one_replacement() {
        use DiffTag::*;
        assert_eq!(
            diff("the cache is cold today", "the cache was warm today"),
            vec![
                (Equal, "the cache ".to_owned()),
                (Delete, "is cold".to_owned()),
                (Insert, "was warm".to_owned()),
                (Equal, " today".to_owned()),
            ]
        );
        assert_eq!(
            diff("", "new words"),
            vec![(Insert, "new words".to_owned())]
        );
        assert_eq!(diff("same", "same"), vec![(Equal, "same".to_owned())]);
        assert!(diff("", "").is_empty());
    }

    #[test]
    fn diffs_rebuild_both_texts() {
        for (old, new) in [
            ("a b c", "a  x c\n"),
            ("  lead and trail  ", "lead, and trail"),
            ("Größe 決済 ok", "Größe ok 決済"),
            ("one two three four", "four three two one"),
        ] {
            let diff = word_diff(old, new, Instant::now() + DIFF_BUDGET);
            assert_eq!(diff.old_text(), old);
            assert_eq!(diff.new_text(), new);
        }
    }

    #[test]
    fn items_match_by_normalised_text() {
        assert_eq!(normalised("  The Cache  is COLD.\n"), "the cache is cold");
        assert_eq!(normalised("Why?!"), "why");
        let insight = |text: &str, confidence: f64| Insight {
            text: text.to_owned(),
            confidence: Some(confidence),
            source_step: None,
            supported_by_evidence: None,
        };
        let before = [insight("Cache is cold", 0.5), insight("Gone", 0.5)];
        let after = [
            insight("cache is cold.", 0.9),
            insight("New", 0.1),
            insight("cache is cold", 0.5),
        ];
        let diff = list_diff(&before, &after, |i| &i.text, insight_fields);
        assert_eq!(diff.removed, vec![before[1].clone()]);
        assert_eq!(diff.added, vec![after[1].clone(), after[2].clone()]);
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.changed[0].fields, ["text", "confidence"]);
        assert_eq!(diff.unchanged, 0);
    }
}
