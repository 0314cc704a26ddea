//! `/sessions` and everything under one session: steps, model calls, synthesis, findings, alerts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lux_core::services::api_keys::Scope;
use lux_core::{
    Actor, Lux, MAX_PAGE_LIMIT, PageRequest, SessionFilter, SessionId, SessionRef, WriteOutcome,
};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{Auth, AuthPolicy, Caller};
use super::dto::*;
use super::error::{ApiError, ApiResult};
use super::limit::{Limit, asked};

pub(crate) struct SessionsApi {
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
}

/// A session id, or the caller's external id when it is not a UUID.
fn session_ref(id: &str) -> SessionRef {
    match id.parse::<SessionId>() {
        Ok(id) => SessionRef::Id(id),
        Err(_) => SessionRef::ExternalId(id.to_owned()),
    }
}

fn actor(caller: &Caller) -> Actor {
    if caller.anonymous {
        Actor::new("rest:local")
    } else {
        Actor::new(format!("rest:{}:{}", caller.project, caller.scope))
    }
}

macro_rules! written_response {
    ($name:ident, $dto:ty, $what:literal) => {
        #[derive(Debug, ApiResponse)]
        pub(crate) enum $name {
            #[doc = concat!("The ", $what, " was created.")]
            #[oai(status = 201)]
            Created(Json<$dto>),
            #[doc = concat!("The ", $what, " already existed (same client id): the stored one, unchanged.")]
            #[oai(status = 200)]
            Existing(Json<$dto>),
        }

        impl $name {
            fn of<T: Into<$dto>>(written: lux_core::Written<T>) -> Self {
                match written.outcome {
                    WriteOutcome::Created => $name::Created(Json(written.value.into())),
                    WriteOutcome::Duplicate => $name::Existing(Json(written.value.into())),
                }
            }
        }
    };
}

written_response!(SessionWritten, SessionDto, "session");

/// A step as its write returns it: the stored step, and its analysis when the call waited.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AppendedStepDto {
    #[oai(flatten)]
    pub(crate) step: StepDto,
    /// Present when the call asked to wait for the step's analysis.
    pub(crate) analysis: Option<StepAnalysisDto>,
}

/// Whether a step's analysis was stored when the reply left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum AnalysisState {
    /// Stored: the findings and alerts below are all there is.
    Done,
    /// Still running after the deadline; its findings will arrive on the live stream.
    Pending,
}

/// What the monitor and detectors found on one step.
#[derive(Debug, Clone, Object)]
pub(crate) struct StepAnalysisDto {
    pub(crate) state: AnalysisState,
    pub(crate) findings: Vec<FindingDto>,
    pub(crate) alerts: Vec<MonitorEventDto>,
}

/// The analysis a step write may wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum WaitFor {
    Analysis,
}

/// How long `?wait=analysis` waits for a step's analysis.
const DEFAULT_ANALYSIS_WAIT: Duration = Duration::from_secs(10);
/// The longest `Prefer: wait=N` is honoured.
const MAX_ANALYSIS_WAIT: Duration = Duration::from_secs(60);

/// The wait a `Prefer` header asks for (RFC 7240 `wait=N`, in seconds), capped; other
/// preferences, and a malformed one, are ignored as the RFC says.
fn preferred_wait(prefer: Option<&str>) -> Option<Duration> {
    prefer?
        .split([',', ';'])
        .filter_map(|token| token.trim().strip_prefix("wait="))
        .find_map(|seconds| seconds.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds).min(MAX_ANALYSIS_WAIT))
}

#[derive(Debug, ApiResponse)]
pub(crate) enum StepWritten {
    /// The step was created. `Lux-Analysis` says whether its analysis is `done`, `pending`
    /// (waited for, not finished) or `queued` (not waited for).
    #[oai(status = 201)]
    Created(
        Json<AppendedStepDto>,
        #[oai(header = "Lux-Analysis")] String,
        #[oai(header = "Preference-Applied")] Option<String>,
    ),
    /// The step already existed (same client id): the stored one, unchanged.
    #[oai(status = 200)]
    Existing(
        Json<AppendedStepDto>,
        #[oai(header = "Lux-Analysis")] String,
        #[oai(header = "Preference-Applied")] Option<String>,
    ),
}
written_response!(ModelCallWritten, ModelCallDto, "model call");
written_response!(SynthesisWritten, SynthesisVersionDto, "synthesis version");

#[derive(Debug, ApiResponse)]
pub(crate) enum Deleted {
    /// The session and everything under it are gone; an audit record remains.
    #[oai(status = 204)]
    Deleted,
}

/// Steps in order.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct StepPage {
    pub(crate) items: Vec<StepDto>,
    /// Pass as `cursor` for the steps after these; absent when there are no more.
    pub(crate) next_cursor: Option<String>,
}

macro_rules! list_object {
    ($name:ident, $dto:ty) => {
        #[derive(Debug, Clone, Object)]
        #[oai(skip_serializing_if_is_none)]
        pub(crate) struct $name {
            pub(crate) items: Vec<$dto>,
        }
    };
}

list_object!(ModelCallList, ModelCallDto);
list_object!(SynthesisVersionList, SynthesisVersionDto);
list_object!(FindingList, FindingDto);
list_object!(MonitorEventList, MonitorEventDto);

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// Create a session
    ///
    /// Idempotent: a session with the same `id` or `external_id` is returned as it is (200).
    #[oai(path = "/sessions", method = "post", operation_id = "createSession")]
    async fn create_session(
        &self,
        auth: Auth,
        body: Json<NewSessionBody>,
    ) -> ApiResult<SessionWritten> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Ingest)
            .await?;
        let written = self
            .lux
            .create_session(caller.project, body.0.into())
            .await?;
        Ok(SessionWritten::of(written))
    }

    /// List sessions
    ///
    /// Newest first, with keyset pagination: pass `next_cursor` back as `cursor`. Pages stay
    /// consistent while new sessions arrive.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/sessions", method = "get", operation_id = "listSessions")]
    async fn list_sessions(
        &self,
        auth: Auth,
        status: Query<Option<SessionStatusDto>>,
        tool: Query<Option<String>>,
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
        tag: Query<Option<String>>,
        external_id: Query<Option<String>>,
        /// Created at or after (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Created before (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// 1 to 1000, default 50.
        limit: Query<Option<Limit<MAX_PAGE_LIMIT>>>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<SessionPage>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = SessionFilter {
            status: status.0.map(Into::into),
            tool: tool.0,
            model: model.0,
            user_id: user_id.0,
            tag: tag.0,
            external_id: external_id.0,
            since: since.0,
            until: until.0,
        };
        let page = PageRequest {
            limit: asked(limit.0),
            cursor: cursor.0,
        };
        let page = self
            .lux
            .list_sessions(caller.project, &filter, &page)
            .await?;
        Ok(Json(SessionPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Get a session
    ///
    /// `id` is the session's UUID or, when not a UUID, its `external_id`.
    #[oai(path = "/sessions/:id", method = "get", operation_id = "getSession")]
    async fn get_session(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<SessionDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        Ok(Json(
            self.lux
                .get_session(caller.project, &session_ref(&id.0))
                .await?
                .into(),
        ))
    }

    /// Update a session
    ///
    /// Changes status, title, tags or metadata. Setting a final status stamps `completed_at`.
    #[oai(
        path = "/sessions/:id",
        method = "patch",
        operation_id = "updateSession"
    )]
    async fn update_session(
        &self,
        auth: Auth,
        id: Path<String>,
        body: Json<SessionPatchBody>,
    ) -> ApiResult<Json<SessionDto>> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Ingest)
            .await?;
        let session = self
            .lux
            .update_session(
                caller.project,
                &session_ref(&id.0),
                body.0.into(),
                &actor(&caller),
            )
            .await?;
        Ok(Json(session.into()))
    }

    /// Delete a session
    ///
    /// Deletes the session and everything under it. Needs the `admin` scope; audited.
    #[oai(
        path = "/sessions/:id",
        method = "delete",
        operation_id = "deleteSession"
    )]
    async fn delete_session(&self, auth: Auth, id: Path<String>) -> ApiResult<Deleted> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        self.lux
            .delete_session(caller.project, &session_ref(&id.0), &actor(&caller))
            .await?;
        Ok(Deleted::Deleted)
    }

    /// List steps
    #[oai(
        path = "/sessions/:id/steps",
        method = "get",
        operation_id = "listSteps"
    )]
    async fn list_steps(
        &self,
        auth: Auth,
        id: Path<String>,
        /// 1 to 1000, default 50.
        limit: Query<Option<Limit<MAX_PAGE_LIMIT>>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<StepPage>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let page = PageRequest {
            limit: asked(limit.0),
            cursor: cursor.0,
        };
        let steps = self
            .lux
            .list_steps(caller.project, &session_ref(&id.0), &page)
            .await?;
        Ok(Json(StepPage {
            items: steps.items.into_iter().map(Into::into).collect(),
            next_cursor: steps.next_cursor,
        }))
    }

    /// Append a step
    ///
    /// The step number is assigned, or checked when given. Idempotent on the step's `id`. The
    /// step's analysis runs after it is stored; `?wait=analysis` (up to 10 s) or `Prefer: wait=N`
    /// (up to N seconds, at most 60) waits for it and returns what it found.
    #[oai(
        path = "/sessions/:id/steps",
        method = "post",
        operation_id = "appendStep"
    )]
    async fn append_step(
        &self,
        auth: Auth,
        id: Path<String>,
        body: Json<NewStepBody>,
        /// `analysis`: wait up to 10 s for the step's analysis and return its findings and alerts.
        wait: Query<Option<WaitFor>>,
        /// RFC 7240 preferences; `wait=N` waits up to N seconds (at most 60) for the analysis.
        #[oai(name = "Prefer")]
        prefer: poem_openapi::param::Header<Option<String>>,
    ) -> ApiResult<StepWritten> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Ingest)
            .await?;
        let written = self
            .lux
            .append_step(caller.project, &session_ref(&id.0), body.0.into())
            .await?;
        let preferred = preferred_wait(prefer.0.as_deref());
        let deadline = preferred.or(wait.0.map(|_| DEFAULT_ANALYSIS_WAIT));
        let applied = preferred.map(|wait| format!("wait={}", wait.as_secs()));
        let step = written.value;
        let (label, analysis) = match deadline {
            None => ("queued", None),
            Some(deadline) => {
                let done = self.lux.await_analysis(&[step.id], deadline).await?;
                let findings = self.lux.step_findings(step.session_id, step.id).await?;
                let alerts = self
                    .lux
                    .step_monitor_events(step.session_id, step.id)
                    .await?;
                let state = if done {
                    AnalysisState::Done
                } else {
                    AnalysisState::Pending
                };
                let analysis = StepAnalysisDto {
                    state,
                    findings: findings.into_iter().map(Into::into).collect(),
                    alerts: alerts.into_iter().map(Into::into).collect(),
                };
                (if done { "done" } else { "pending" }, Some(analysis))
            }
        };
        let body = Json(AppendedStepDto {
            step: step.into(),
            analysis,
        });
        Ok(match written.outcome {
            WriteOutcome::Created => StepWritten::Created(body, label.to_owned(), applied),
            WriteOutcome::Duplicate => StepWritten::Existing(body, label.to_owned(), applied),
        })
    }

    /// List model calls
    #[oai(
        path = "/sessions/:id/model-calls",
        method = "get",
        operation_id = "listModelCalls"
    )]
    async fn list_model_calls(
        &self,
        auth: Auth,
        id: Path<String>,
    ) -> ApiResult<Json<ModelCallList>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let calls = self
            .lux
            .list_model_calls(caller.project, &session_ref(&id.0))
            .await?;
        Ok(Json(ModelCallList {
            items: calls.into_iter().map(Into::into).collect(),
        }))
    }

    /// Record a model call
    ///
    /// Cost is computed from the price in force at `created_at` (default now), exactly.
    #[oai(
        path = "/sessions/:id/model-calls",
        method = "post",
        operation_id = "recordModelCall"
    )]
    async fn record_model_call(
        &self,
        auth: Auth,
        id: Path<String>,
        body: Json<NewModelCallBody>,
    ) -> ApiResult<ModelCallWritten> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Ingest)
            .await?;
        let written = self
            .lux
            .record_model_call(caller.project, &session_ref(&id.0), body.0.into())
            .await?;
        Ok(ModelCallWritten::of(written))
    }

    /// Latest synthesis
    #[oai(
        path = "/sessions/:id/synthesis",
        method = "get",
        operation_id = "getSynthesis"
    )]
    async fn latest_synthesis(
        &self,
        auth: Auth,
        id: Path<String>,
    ) -> ApiResult<Json<SynthesisVersionDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let latest = self
            .lux
            .latest_synthesis(caller.project, &session_ref(&id.0))
            .await?;
        latest
            .map(|version| Json(version.into()))
            .ok_or_else(|| ApiError::not_found("this session has no synthesis yet"))
    }

    /// Add a synthesis version
    ///
    /// Send `update` (structured) or `raw` (text with `update_synthesis(...)`); either way one
    /// new version is stored. Text without an update is a 422.
    #[oai(
        path = "/sessions/:id/synthesis",
        method = "post",
        operation_id = "addSynthesis"
    )]
    async fn add_synthesis(
        &self,
        auth: Auth,
        id: Path<String>,
        body: Json<NewSynthesisBody>,
    ) -> ApiResult<SynthesisWritten> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Ingest)
            .await?;
        let new = body.0.try_into()?;
        let written = self
            .lux
            .add_synthesis(caller.project, &session_ref(&id.0), new)
            .await?;
        Ok(SynthesisWritten::of(written))
    }

    /// All synthesis versions
    #[oai(
        path = "/sessions/:id/synthesis/versions",
        method = "get",
        operation_id = "listSynthesisVersions"
    )]
    async fn synthesis_versions(
        &self,
        auth: Auth,
        id: Path<String>,
    ) -> ApiResult<Json<SynthesisVersionList>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let versions = self
            .lux
            .list_synthesis_versions(caller.project, &session_ref(&id.0))
            .await?;
        Ok(Json(SynthesisVersionList {
            items: versions.into_iter().map(Into::into).collect(),
        }))
    }

    /// List bias findings
    #[oai(
        path = "/sessions/:id/findings",
        method = "get",
        operation_id = "listFindings"
    )]
    async fn findings(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<FindingList>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let findings = self
            .lux
            .list_findings(caller.project, &session_ref(&id.0))
            .await?;
        Ok(Json(FindingList {
            items: findings.into_iter().map(Into::into).collect(),
        }))
    }

    /// List monitor events
    #[oai(
        path = "/sessions/:id/monitor-events",
        method = "get",
        operation_id = "listMonitorEvents"
    )]
    async fn monitor_events(
        &self,
        auth: Auth,
        id: Path<String>,
    ) -> ApiResult<Json<MonitorEventList>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let events = self
            .lux
            .list_monitor_events(caller.project, &session_ref(&id.0))
            .await?;
        Ok(Json(MonitorEventList {
            items: events.into_iter().map(Into::into).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefer_header_asks_for_a_capped_wait_and_anything_else_is_ignored() {
        assert_eq!(preferred_wait(None), None);
        assert_eq!(preferred_wait(Some("wait=7")), Some(Duration::from_secs(7)));
        assert_eq!(
            preferred_wait(Some("respond-async, wait=3")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            preferred_wait(Some("return=minimal; wait=600")),
            Some(MAX_ANALYSIS_WAIT)
        );
        for ignored in ["respond-async", "wait=soon", "wait=-1", "wait="] {
            assert_eq!(preferred_wait(Some(ignored)), None, "{ignored}");
        }
    }
}
