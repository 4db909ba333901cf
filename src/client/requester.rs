//! The requester thread: owns the REQ socket and sends calls one at a time,
//! with the Lazy Pirate retry policy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::protocol::ProtocolCell;
use super::stats::ClientCounters;
use crate::transport::operator::{ReplyWait, ReqSocket};
use crate::{
    sign_frames, verify_signed_frames, ApiCommandRequestServiceResponse, Command, Error, SigningKey,
};

/// One command on its way to the requester thread.
pub(crate) struct Call {
    pub(crate) body: Vec<u8>,
    pub(crate) command: Command,
    pub(crate) nonce: i64,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) reply: oneshot::Sender<Result<Answered, Error>>,
}

/// A reply that came: its body as the device sent it (for a signed
/// request, the second frame), and that body read and checked.
pub(crate) struct Answered {
    pub(crate) body: Vec<u8>,
    pub(crate) checked: Result<ApiCommandRequestServiceResponse, Error>,
}

enum Outcome {
    Done(Result<Answered, Error>),
    Stop,
}

pub(crate) fn run(
    mut socket: ReqSocket,
    mut calls: mpsc::Receiver<Call>,
    counters: Arc<ClientCounters>,
    protocol: Arc<ProtocolCell>,
    signing: Option<SigningKey>,
) {
    while let Some(call) = calls.blocking_recv() {
        if call.reply.is_closed() {
            continue; // the caller gave up before its turn: never sent
        }
        match perform(&mut socket, &call, &counters, &protocol, signing.as_ref()) {
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
    signing: Option<&SigningKey>,
) -> Outcome {
    let attempts = call.retries.saturating_add(1);
    for attempt in 1..=attempts {
        counters.requests_sent.bump();
        let deadline = Instant::now() + call.timeout;
        // Signed again for each attempt: a retry is a new request (a resent
        // signature would be refused as a replay if the first got through).
        let frames = match signing {
            Some(key) => sign_frames(key, &call.body).to_vec(),
            None => vec![call.body.clone()],
        };
        match socket.request(&frames, deadline) {
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
            Ok(ReplyWait::Reply(mut frames)) => {
                counters.replies_received.bump();
                // Read with the device's generation, else with the one the
                // caller chose the command from.
                let generation = protocol.current().or(call.command.generation());
                let checked = reply_body(&frames, signing)
                    .and_then(|body| {
                        refused_if_unsigned(&frames, signing, body)?;
                        check_reply(body, call.nonce, call.command.value())
                    })
                    .map(|mut reply| {
                        reply.command = Command::read(generation, reply.command.value());
                        reply
                    });
                match &checked {
                    // The caller is told; not a fault of the reply.
                    Err(error @ Error::Refused { .. }) => {
                        tracing::debug!(%error, nonce = call.nonce, "request refused");
                    }
                    Err(error) => {
                        counters.invalid_replies.bump();
                        tracing::warn!(%error, nonce = call.nonce, "invalid reply");
                    }
                    Ok(_) => {}
                }
                let body = frames.pop().unwrap_or_default();
                return Outcome::Done(Ok(Answered { body, checked }));
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

/// The body of a reply: its one frame; to a signed request, the second of
/// two frames whose envelope verifies with the requester's key (a forged
/// reply is an error), or one unsigned frame (read, then refused by
/// [`refused_if_unsigned`]).
fn reply_body<'a>(frames: &'a [Vec<u8>], signing: Option<&SigningKey>) -> Result<&'a [u8], Error> {
    match (frames, signing) {
        ([body], _) => Ok(body),
        ([_, _], Some(key)) => verify_signed_frames(key, frames).map_err(|why| {
            Error::InvalidReply(format!("a forged reply to a signed request: {why}"))
        }),
        _ => Err(Error::InvalidReply(format!(
            "{} frames instead of {}",
            frames.len(),
            if signing.is_some() { 2 } else { 1 }
        ))),
    }
}

/// An unsigned reply to a signed request is a refusal, whatever it says
/// (checked before its nonce: a device without keys may not have read the
/// request at all): the device refused it (errorCode 401, 409, 403) or does
/// not check signatures. The refusal carries the reply's errorCode and
/// errorMessage when it has them.
fn refused_if_unsigned(
    frames: &[Vec<u8>],
    signing: Option<&SigningKey>,
    body: &[u8],
) -> Result<(), Error> {
    if signing.is_none() || frames.len() == 2 {
        return Ok(());
    }
    let reply: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| reply.as_ref().and_then(|reply| reply.get(name));
    Err(Error::Refused {
        code: field("errorCode")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        message: field("errorMessage")
            .and_then(serde_json::Value::as_str)
            .map_or_else(
                || "an unsigned reply to a signed request".into(),
                str::to_owned,
            ),
    })
}

/// Reads a reply and checks that it answers `nonce`. A reply with nonce 0 to
/// a NONE request is accepted too: the 0.12 reference answers NONE with
/// nonce 0 whatever was sent (a REQ socket only ever receives the reply to
/// its last request, so nothing else can be mistaken for it).
fn check_reply(
    body: &[u8],
    nonce: i64,
    command: i64,
) -> Result<ApiCommandRequestServiceResponse, Error> {
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
        let reply = check_reply(good, 7, 400).unwrap();
        assert_eq!(reply.data.unwrap()["animal_id"], "m 1");
        assert!(
            matches!(check_reply(good, 8, 400), Err(Error::InvalidReply(m)) if m.contains("nonce 7"))
        );
        assert!(reply_body(&[good.to_vec(), vec![]], None).is_err());
        assert!(check_reply(b"{", 7, 400).is_err());
        assert!(check_reply(&[0xff], 7, 400).is_err());
        assert!(check_reply(b"[]", 7, 400).is_err());
        // 0.12's answer to NONE, whatever its nonce was; only for NONE.
        let ping = br#"{"nonce": 0, "command": 0, "result": 0, "data": null, "errorKind": 0, "errorCode": 0, "errorMessage": null}"#;
        assert!(check_reply(ping, 5, 0).is_ok());
        assert!(check_reply(ping, 5, 400).is_err());
    }

    #[test]
    fn a_signed_request_takes_only_a_reply_signed_with_its_key() {
        let key = SigningKey::new("ops-1", [5; 32]);
        let body = br#"{"nonce":7,"command":400,"result":100,"data":null,"errorKind":0,"errorCode":0,"errorMessage":null}"#;
        let signed = sign_frames(&key, body).to_vec();
        assert_eq!(reply_body(&signed, Some(&key)).unwrap(), body);

        let forger = SigningKey::new("ops-1", [6; 32]);
        let forged = sign_frames(&forger, body).to_vec();
        assert!(
            matches!(reply_body(&forged, Some(&key)), Err(Error::InvalidReply(m)) if m.contains("forged"))
        );
        let mut tampered = signed.clone();
        tampered[1] = body
            .iter()
            .map(|&b| if b == b'7' { b'8' } else { b })
            .collect();
        assert!(reply_body(&tampered, Some(&key)).is_err());

        // Unsigned: a refusal, whatever it says (even for another nonce, or
        // not JSON at all).
        let unsigned = [body.to_vec()];
        let read = reply_body(&unsigned, Some(&key)).unwrap();
        assert!(matches!(
            refused_if_unsigned(&unsigned, Some(&key), read),
            Err(Error::Refused { code: 0, .. })
        ));
        assert!(refused_if_unsigned(&unsigned, None, read).is_ok());
        let refusal = br#"{"nonce":0,"command":0,"result":400,"data":null,"errorKind":1,"errorCode":401,"errorMessage":"unknown key"}"#;
        assert!(matches!(
            refused_if_unsigned(&[refusal.to_vec()], Some(&key), refusal),
            Err(Error::Refused { code: 401, message }) if message == "unknown key"
        ));
        assert!(matches!(
            refused_if_unsigned(&[b"?".to_vec()], Some(&key), b"?"),
            Err(Error::Refused { code: 0, .. })
        ));
    }
}
