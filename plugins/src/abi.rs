//! Rust mirrors of the records in `wit/lux-plugins.wit`. Written out by hand (not `bindgen!`) so
//! the host needs no macro expansion of the WIT and each type derives only the direction it
//! crosses in. The output cap is enforced while these are lifted, by the store's hostcall fuel
//! (see `host.rs`), so a hostile guest cannot make the host copy more than the cap — not even with
//! a million list entries pointing at one 32 MiB string.
//!
//! Field names and order must match the WIT exactly; wasmtime type-checks them against the
//! component at load (`check_entry_signature`), so a mismatch fails loudly, never silently.

use wasmtime::component::{ComponentType, Lift, Lower};

#[derive(ComponentType, Lift, Clone, Copy, Debug, PartialEq, Eq)]
#[component(enum)]
#[allow(
    dead_code,
    reason = "cases are created by lifting guest output, never by name"
)]
#[repr(u8)]
pub(crate) enum Severity {
    #[component(name = "none")]
    None,
    #[component(name = "low")]
    Low,
    #[component(name = "medium")]
    Medium,
    #[component(name = "high")]
    High,
    #[component(name = "critical")]
    Critical,
}

#[derive(ComponentType, Lift, Clone, Copy, Debug)]
#[component(record)]
pub(crate) struct Span {
    #[component(name = "start")]
    pub(crate) start: u32,
    #[component(name = "end")]
    pub(crate) end: u32,
}

#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct Metadata {
    #[component(name = "name")]
    pub(crate) name: String,
    #[component(name = "version")]
    pub(crate) version: String,
    #[component(name = "description")]
    pub(crate) description: String,
    #[component(name = "config-schema")]
    pub(crate) config_schema: String,
}

// ---- detector ----

#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct PriorStep {
    #[component(name = "step-number")]
    pub(crate) step_number: i32,
    #[component(name = "kind")]
    pub(crate) kind: String,
    #[component(name = "content")]
    pub(crate) content: String,
}

#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct Step {
    #[component(name = "step-number")]
    pub(crate) step_number: Option<i32>,
    #[component(name = "kind")]
    pub(crate) kind: String,
    #[component(name = "content")]
    pub(crate) content: String,
}

#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct Synthesis {
    #[component(name = "current-understanding")]
    pub(crate) current_understanding: Option<String>,
    #[component(name = "insights")]
    pub(crate) insights: Vec<String>,
    #[component(name = "confidence")]
    pub(crate) confidence: Option<f64>,
}

#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct StepContext {
    #[component(name = "step")]
    pub(crate) step: Step,
    #[component(name = "previous")]
    pub(crate) previous: Vec<PriorStep>,
    #[component(name = "synthesis")]
    pub(crate) synthesis: Option<Synthesis>,
    #[component(name = "config")]
    pub(crate) config: String,
}

#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct Finding {
    #[component(name = "bias-type")]
    pub(crate) bias_type: String,
    #[component(name = "severity")]
    pub(crate) severity: Severity,
    #[component(name = "confidence")]
    pub(crate) confidence: f64,
    #[component(name = "explanation")]
    pub(crate) explanation: String,
    #[component(name = "evidence")]
    pub(crate) evidence: Option<Span>,
    #[component(name = "suggestion")]
    pub(crate) suggestion: Option<String>,
}

pub(crate) type DetectParams = (StepContext,);
pub(crate) type DetectResults = (Result<Vec<Finding>, String>,);

// ---- miner ----

#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct LabelCount {
    #[component(name = "label")]
    pub(crate) label: String,
    #[component(name = "count")]
    pub(crate) count: u32,
}

#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct SessionDigest {
    #[component(name = "session-id")]
    pub(crate) session_id: String,
    #[component(name = "tool")]
    pub(crate) tool: String,
    #[component(name = "status")]
    pub(crate) status: String,
    #[component(name = "model")]
    pub(crate) model: Option<String>,
    #[component(name = "n-steps")]
    pub(crate) n_steps: u32,
    #[component(name = "bias-counts")]
    pub(crate) bias_counts: Vec<LabelCount>,
    #[component(name = "monitor-counts")]
    pub(crate) monitor_counts: Vec<LabelCount>,
    #[component(name = "top-concepts")]
    pub(crate) top_concepts: Vec<String>,
    #[component(name = "total-tokens")]
    pub(crate) total_tokens: i64,
    #[component(name = "cost-nusd")]
    pub(crate) cost_nusd: i64,
    #[component(name = "created-at")]
    pub(crate) created_at: String,
    #[component(name = "topic")]
    pub(crate) topic: Option<String>,
}

/// `session-digest` of `lux:plugins@0.1`, for miners built against it: no `topic`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct SessionDigestV01 {
    #[component(name = "session-id")]
    pub(crate) session_id: String,
    #[component(name = "tool")]
    pub(crate) tool: String,
    #[component(name = "status")]
    pub(crate) status: String,
    #[component(name = "model")]
    pub(crate) model: Option<String>,
    #[component(name = "n-steps")]
    pub(crate) n_steps: u32,
    #[component(name = "bias-counts")]
    pub(crate) bias_counts: Vec<LabelCount>,
    #[component(name = "monitor-counts")]
    pub(crate) monitor_counts: Vec<LabelCount>,
    #[component(name = "top-concepts")]
    pub(crate) top_concepts: Vec<String>,
    #[component(name = "total-tokens")]
    pub(crate) total_tokens: i64,
    #[component(name = "cost-nusd")]
    pub(crate) cost_nusd: i64,
    #[component(name = "created-at")]
    pub(crate) created_at: String,
}

impl From<SessionDigest> for SessionDigestV01 {
    fn from(digest: SessionDigest) -> Self {
        SessionDigestV01 {
            session_id: digest.session_id,
            tool: digest.tool,
            status: digest.status,
            model: digest.model,
            n_steps: digest.n_steps,
            bias_counts: digest.bias_counts,
            monitor_counts: digest.monitor_counts,
            top_concepts: digest.top_concepts,
            total_tokens: digest.total_tokens,
            cost_nusd: digest.cost_nusd,
            created_at: digest.created_at,
        }
    }
}

#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct Pattern {
    #[component(name = "kind")]
    pub(crate) kind: String,
    #[component(name = "title")]
    pub(crate) title: String,
    #[component(name = "support")]
    pub(crate) support: u32,
    #[component(name = "score")]
    pub(crate) score: f64,
    #[component(name = "session-ids")]
    pub(crate) session_ids: Vec<String>,
    #[component(name = "data")]
    pub(crate) data: String,
}

pub(crate) type MineParams = (Vec<SessionDigest>, String);
pub(crate) type MineParamsV01 = (Vec<SessionDigestV01>, String);
pub(crate) type MineResults = (Result<Vec<Pattern>, String>,);
pub(crate) type MetadataResults = (Metadata,);
