//! The one validator of options structs: both the service's
//! ([`crate::RpcOptions`]) and the client's check their fields through it, so
//! a problem is worded the same way on both sides.

use std::time::Duration;

use crate::Error;

/// Checks fields in order and keeps the first problem found.
#[must_use = "call finish() to get the verdict"]
pub(crate) struct OptionsCheck {
    problem: Option<String>,
}

impl OptionsCheck {
    pub(crate) fn new() -> Self {
        Self { problem: None }
    }

    /// Records `problem` unless `ok` (and unless an earlier field failed).
    pub(crate) fn require(mut self, ok: bool, problem: impl FnOnce() -> String) -> Self {
        if self.problem.is_none() && !ok {
            self.problem = Some(problem());
        }
        self
    }

    pub(crate) fn not_empty(self, field: &str, text: &str) -> Self {
        self.require(!text.is_empty(), || format!("{field} must not be empty"))
    }

    pub(crate) fn positive(self, field: &str, value: u64) -> Self {
        self.require(value > 0, || format!("{field} must be greater than zero"))
    }

    pub(crate) fn positive_duration(self, field: &str, value: Duration) -> Self {
        self.require(!value.is_zero(), || {
            format!("{field} must be greater than zero")
        })
    }

    /// # Errors
    /// [`Error::InvalidOptions`] naming the first field that failed.
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self.problem {
            None => Ok(()),
            Some(problem) => Err(Error::InvalidOptions(problem)),
        }
    }
}
