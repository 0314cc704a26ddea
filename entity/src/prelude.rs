//! Entity names without their module paths, for `use lux_entity::prelude::*`.

pub use crate::action_item::Entity as ActionItem;
pub use crate::analysis_job::Entity as AnalysisJob;
pub use crate::api_key::Entity as ApiKey;
pub use crate::audit_log::Entity as AuditLog;
pub use crate::bias_finding::Entity as BiasFinding;
pub use crate::insight::Entity as Insight;
pub use crate::live_event::Entity as LiveEvent;
pub use crate::model_call::Entity as ModelCall;
pub use crate::model_price::Entity as ModelPrice;
pub use crate::monitor_event::Entity as MonitorEvent;
pub use crate::project::Entity as Project;
pub use crate::session::Entity as Session;
pub use crate::session_tag::Entity as SessionTag;
pub use crate::step::Entity as Step;
pub use crate::synthesis_version::Entity as SynthesisVersion;
