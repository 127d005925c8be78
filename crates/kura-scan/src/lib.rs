//! kura scan: find stray personal data in files and folders (work in progress).
mod context;
mod detect;
mod kind;
mod mask;
mod names;
mod validate;
pub use kind::{Confidence, Kind};
pub use mask::mask;
