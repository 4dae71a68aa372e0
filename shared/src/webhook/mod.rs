//! The core promise: one linked Tencent Doc (and one comment) per new TAPD item.

mod auth;
mod event;
mod linker;
pub mod metrics;
mod title;

pub use auth::{TapdAuth, TdocAuth};
pub use event::{Action, BodyError, MAX_BODY, TapdEvent, parse_body, secret_matches};
pub use linker::{LinkError, Linker, Outcome, RetrySummary};
pub use title::{cut_chars, render_title};
