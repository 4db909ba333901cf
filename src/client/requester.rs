//! The requester thread: owns the REQ socket and sends calls one at a time,
//! with the Lazy Pirate retry policy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::protocol::ProtocolCell;
use super::stats::ClientCounters;
use crate::transport::operator::{ReplyWait, ReqSocket};
use crate::{ApiCommandRequestServiceResponse, Command, Error};

/// One command on its way to the requester thread.
pub(crate) struct Call {
    pub(crate) body: Vec<u8>,
    pub(crate) command: Command,
    pub(crate) nonce: i64,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) reply: oneshot::Sender<Result<ApiCommandRequestServiceResponse, Error>>,
}

enum Outcome {
    Done(Result<ApiCommandRequestServiceResponse, Error>),
    Stop,
}

pub(crate) fn run(
    mut socket: ReqSocket,
    mut calls: mpsc::Receiver<Call>,
    counters: Arc<ClientCounters>,
    protocol: Arc<ProtocolCell>,
) {
    while let Some(call) = calls.blocking_recv() {
        if call.reply.is_closed() {
            continue; // the caller gave up before its turn: never sent
        }
        match perform(&mut socket, &call, &counters, &protocol) {
            Outcome::Done(result) => {
                let _ = call.reply.send(result);
            }
            Outcome::Stop => {
                let _ = call.reply.send(Err(Error::ClientClosed));
                break;
            }
        }
    }
}

fn perform(
    socket: &mut ReqSocket,
    call: &Call,
    counters: &ClientCounters,
    protocol: &ProtocolCell,
) -> Outcome {
    let attempts = call.retries.saturating_add(1);
    for attempt in 1..=attempts {
        counters.requests_sent.bump();
        let deadline = Instant::now() + call.timeout;
        match socket.request(&call.body, deadline) {
            Err(error) => return Outcome::Done(Err(error)),
            Ok(ReplyWait::Stop) => return Outcome::Stop,
            Ok(ReplyWait::TimedOut) => {
                counters.request_timeouts.bump();
                tracing::warn!(
                    command = %call.command,
                    nonce = call.nonce,
                    attempt,
                    attempts,
                    "no reply in time; the command socket was reopened"
                );
            }
            Ok(ReplyWait::Reply(frames)) => {
                counters.replies_received.bump();
                // Read with the device's generation, else with the one the
                // caller chose the command from.
                let generation = protocol.current().or(call.command.generation());
                let checked =
                    check_reply(&frames, call.nonce, call.command.value()).map(|mut reply| {
                        reply.command = Command::read(generation, reply.command.value());
                        reply
                    });
                if let Err(error) = &checked {
                    counters.invalid_replies.bump();
                    tracing::warn!(%error, nonce = call.nonce, "invalid reply");
                }
                return Outcome::Done(checked);
            }
        }
    }
    Outcome::Done(Err(Error::RequestTimeout {
        command: call.command,
        nonce: call.nonce,
        attempts,
        timeout: call.timeout,
    }))
}

/// Reads a reply and checks that it answers `nonce`. A reply with nonce 0 to
/// a NONE request is accepted too: the 0.12 reference answers NONE with
/// nonce 0 whatever was sent (a REQ socket only ever receives the reply to
/// its last request, so nothing else can be mistaken for it).
fn check_reply(
    frames: &[Vec<u8>],
    nonce: i64,
    command: i64,
) -> Result<ApiCommandRequestServiceResponse, Error> {
    let [body] = frames else {
        return Err(Error::InvalidReply(format!(
            "{} frames instead of 1",
            frames.len()
        )));
    };
    let text =
        std::str::from_utf8(body).map_err(|e| Error::InvalidReply(format!("not UTF-8: {e}")))?;
    let reply: ApiCommandRequestServiceResponse =
        serde_json::from_str(text).map_err(|e| Error::InvalidReply(e.to_string()))?;
    let ping_answered_by_0_12 = command == 0 && reply.nonce == 0 && reply.command.value() == 0;
    if reply.nonce != nonce && !ping_answered_by_0_12 {
        return Err(Error::InvalidReply(format!(
            "the reply is for nonce {}, not {nonce}",
            reply.nonce
        )));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_checked() {
        let good = br#"{"nonce":7,"command":400,"result":100,"data":{"animalId":"m 1"},"errorKind":0,"errorCode":0,"errorMessage":null}"#;
        let reply = check_reply(&[good.to_vec()], 7, 400).unwrap();
        assert_eq!(reply.data.unwrap()["animal_id"], "m 1");
        assert!(
            matches!(check_reply(&[good.to_vec()], 8, 400), Err(Error::InvalidReply(m)) if m.contains("nonce 7"))
        );
        assert!(check_reply(&[good.to_vec(), vec![]], 7, 400).is_err());
        assert!(check_reply(&[b"{".to_vec()], 7, 400).is_err());
        assert!(check_reply(&[vec![0xff]], 7, 400).is_err());
        assert!(check_reply(&[b"[]".to_vec()], 7, 400).is_err());
        // 0.12's answer to NONE, whatever its nonce was; only for NONE.
        let ping = br#"{"nonce": 0, "command": 0, "result": 0, "data": null, "errorKind": 0, "errorCode": 0, "errorMessage": null}"#;
        assert!(check_reply(&[ping.to_vec()], 5, 0).is_ok());
        assert!(check_reply(&[ping.to_vec()], 5, 400).is_err());
    }
}
