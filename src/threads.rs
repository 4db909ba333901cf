//! The library's threads: each named after its job (so it shows in a
//! debugger or `top -H`), and a thread that cannot start is an
//! [`Error::Spawn`], never a panic.

use std::thread::JoinHandle;

use crate::Error;

/// Starts `work` on a thread named `auto-trainer-{job}`.
pub(crate) fn spawn(
    job: &'static str,
    work: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name(format!("auto-trainer-{job}"))
        .spawn(work)
        .map_err(|source| Error::Spawn {
            thread: job,
            source,
        })
}
