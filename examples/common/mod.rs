//! Plumbing shared by the `client_application` and `remote_console`
//! examples. Not an example itself: each program includes it with
//! `#[path = "../common/mod.rs"] mod common;`.
//!
//! - [`output`]: where printed lines go, so that they never break the line
//!   being typed at the prompt.
//! - [`logging`]: a `tracing` subscriber writing through that output.
//! - [`prompt`]: a rustyline prompt with history and tab completion.
//! - [`duration`]: the one parser of duration flags.
//! - [`text`]: one-line texts both programs print (a command's outcome, an
//!   error with its causes).

pub mod duration;
pub mod logging;
pub mod output;
pub mod prompt;
pub mod text;
