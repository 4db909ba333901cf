//! Results of pending commands, matched by nonce: kept for a while after they
//! arrive, so a caller that starts waiting late still gets its result.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use tokio::sync::oneshot;

use crate::{ApiCommandRequestResponse, Command};

/// A command this client sent that answered `PENDING_WITH_NOTIFICATION` and
/// whose COMMAND_RESULT has not arrived yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitedCommand {
    /// The request's nonce.
    pub nonce: i64,
    /// The command.
    pub command: Command,
    /// When its reply said it was pending.
    pub since: SystemTime,
}

/// Recent results and the callers waiting for theirs. Bounded: at most
/// `capacity` results and `capacity` awaited commands, oldest evicted first.
pub(crate) struct ResultBook {
    capacity: usize,
    recent: HashMap<i64, ApiCommandRequestResponse>,
    order: VecDeque<i64>,
    awaited: VecDeque<AwaitedCommand>,
    waiters: HashMap<i64, Vec<oneshot::Sender<ApiCommandRequestResponse>>>,
}

impl ResultBook {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            recent: HashMap::new(),
            order: VecDeque::new(),
            awaited: VecDeque::new(),
            waiters: HashMap::new(),
        }
    }

    /// A COMMAND_RESULT arrived: wake its waiters, remember it. A command
    /// read before the device's generation was known takes the generation
    /// of the awaited command it answers.
    pub(crate) fn record(&mut self, result: &mut ApiCommandRequestResponse) {
        let nonce = result.nonce;
        if let Some(awaited) = self.awaited.iter().find(|a| a.nonce == nonce) {
            adopt_generation(&mut result.command, awaited.command);
        }
        let result = &*result;
        self.awaited
            .retain(|a| !(a.nonce == nonce && command_matches(a.command, result.command)));
        if let Some(waiters) = self.waiters.remove(&nonce) {
            for waiter in waiters {
                let _ = waiter.send(result.clone());
            }
        }
        if self.recent.insert(nonce, result.clone()).is_none() {
            self.order.push_back(nonce);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.recent.remove(&old);
            }
        }
    }

    /// The reply to `nonce` said PENDING_WITH_NOTIFICATION. Not recorded if
    /// the result is already here.
    pub(crate) fn expect(&mut self, nonce: i64, command: Command) {
        if let Some(arrived) = self.recent.get_mut(&nonce) {
            adopt_generation(&mut arrived.command, command);
            return;
        }
        if self.awaited.iter().any(|a| a.nonce == nonce) {
            return;
        }
        if self.awaited.len() == self.capacity {
            self.awaited.pop_front();
        }
        self.awaited.push_back(AwaitedCommand {
            nonce,
            command,
            since: SystemTime::now(),
        });
    }

    /// The result for `nonce` if it is here, else a receiver that gets it.
    pub(crate) fn wait(
        &mut self,
        nonce: i64,
    ) -> Result<ApiCommandRequestResponse, oneshot::Receiver<ApiCommandRequestResponse>> {
        if let Some(result) = self.recent.get(&nonce) {
            return Ok(result.clone());
        }
        let (sender, receiver) = oneshot::channel();
        let waiters = self.waiters.entry(nonce).or_default();
        waiters.retain(|w| !w.is_closed());
        waiters.push(sender);
        Err(receiver)
    }

    /// Drops the waiters of `nonce` that gave up.
    pub(crate) fn forget_waiter(&mut self, nonce: i64) {
        if let Some(waiters) = self.waiters.get_mut(&nonce) {
            waiters.retain(|w| !w.is_closed());
            if waiters.is_empty() {
                self.waiters.remove(&nonce);
            }
        }
    }

    pub(crate) fn awaited(&self) -> Vec<AwaitedCommand> {
        self.awaited.iter().cloned().collect()
    }
}

/// Reads `command` with the generation of `sent` when it was read without one.
fn adopt_generation(command: &mut Command, sent: Command) {
    if command.generation().is_none() {
        *command = Command::read(sent.generation(), command.value());
    }
}

/// A device that publishes a result without its command (the field defaults
/// to NONE) still settles the command by nonce.
fn command_matches(awaited: Command, published: Command) -> bool {
    // Numbers: the two may have been read before and after the device's
    // generation was known.
    published.value() == 0 || awaited.value() == published.value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiCommandRequestResult;

    fn result(nonce: i64) -> ApiCommandRequestResponse {
        ApiCommandRequestResponse::success().for_request(crate::ApiCommand::StartAcquisition, nonce)
    }

    #[test]
    fn early_results_are_kept_and_late_waiters_get_them() {
        let mut book = ResultBook::new(2);
        book.record(&mut result(1));
        assert_eq!(book.wait(1).ok().map(|r| r.nonce), Some(1));
        book.expect(1, crate::ApiCommand::StartAcquisition.into());
        assert!(book.awaited().is_empty(), "already settled");
        book.record(&mut result(2));
        book.record(&mut result(3));
        assert!(book.wait(1).is_err(), "evicted");
    }

    #[test]
    fn waiters_are_woken_and_awaited_commands_settled() {
        let mut book = ResultBook::new(4);
        book.expect(5, crate::ApiCommand::StartAcquisition.into());
        assert_eq!(book.awaited().len(), 1);
        let mut receiver = book.wait(5).unwrap_err();
        book.record(
            &mut ApiCommandRequestResponse::new(ApiCommandRequestResult::Failed)
                .for_request(crate::ApiCommand::StartAcquisition, 5),
        );
        assert_eq!(
            receiver.try_recv().unwrap().result,
            ApiCommandRequestResult::Failed
        );
        assert!(book.awaited().is_empty());
    }

    #[test]
    fn a_result_read_before_the_generation_was_known_takes_the_one_of_its_command() {
        let undetected = |nonce| {
            let mut result = ApiCommandRequestResponse::success();
            result.command = Command::Undetected(100);
            result.nonce = nonce;
            result
        };
        let mut book = ResultBook::new(4);
        // Arrived before the reply was handled...
        book.record(&mut undetected(1));
        book.expect(1, crate::ApiCommand::StartAcquisition.into());
        assert_eq!(
            book.wait(1).unwrap().command,
            crate::ApiCommand::StartAcquisition
        );
        // ... or after.
        book.expect(2, crate::v0_12::ApiCommand::Unknown(100).into());
        let mut late = undetected(2);
        book.record(&mut late);
        assert_eq!(
            late.command,
            Command::V0_12(crate::v0_12::ApiCommand::Unknown(100))
        );
    }
}
