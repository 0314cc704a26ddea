//! Newtype ids, so a step id can never be passed where a session id belongs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                Uuid::parse_str(text.trim())
                    .map($name)
                    .map_err(|_| Error::invalid($field, format!("{text:?} is not a UUID")))
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                $name(uuid)
            }
        }
    };
}

id_type!(
    /// A project: the unit of isolation between tenants.
    ProjectId, "project_id"
);
id_type!(SessionId, "session_id");
id_type!(StepId, "step_id");
id_type!(ModelCallId, "model_call_id");
id_type!(PriceId, "price_id");
id_type!(SynthesisVersionId, "synthesis_version_id");
id_type!(FindingId, "finding_id");
id_type!(MonitorEventId, "monitor_event_id");
