//! Domain types: what Lux talks about, independent of tables (see `store`) and wire formats (see the doors).

mod analytics;
mod compare;
mod export;
mod finding;
mod ids;
mod page;
mod plugin;
mod search;
mod session;
mod step;
mod synthesis;
mod usage;
mod values;

pub use analytics::*;
pub use compare::*;
pub use export::*;
pub use finding::*;
pub use ids::*;
pub use page::*;
pub use plugin::*;
pub use search::*;
pub use session::*;
pub use step::*;
pub use synthesis::*;
pub use usage::*;
pub use values::*;
