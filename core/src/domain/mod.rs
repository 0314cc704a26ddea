//! Domain types: what Lux talks about, independent of tables (see `store`) and wire formats (see the doors).

mod finding;
mod ids;
mod page;
mod session;
mod step;
mod synthesis;
mod usage;
mod values;

pub use finding::*;
pub use ids::*;
pub use page::*;
pub use session::*;
pub use step::*;
pub use synthesis::*;
pub use usage::*;
pub use values::*;
