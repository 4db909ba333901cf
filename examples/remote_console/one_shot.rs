//! The modes for scripts: `send` one command, `listen` to messages,
//! `fleet status`. Each returns the exit code.

use auto_trainer_api::{ApiCommandRequestResult, CommandCall};
use tokio::sync::watch;

use crate::args::{Args, ListenArgs, SendArgs};
use crate::common::text::error_chain;
use crate::fleet::Fleet;
use crate::format::{refusal_of_error, refusal_of_reply, Report};
use crate::link::Link;
use crate::vocabulary::{command_call, resolve_all_shown, shown_kind};
use crate::{EXIT_DENIED, EXIT_FAILED, EXIT_NO_ANSWER, EXIT_USAGE};

/// Sends one command and prints its reply (and with `--wait`, the result of a
/// pending command).
pub async fn send(link: &Link, report: &Report, args: &SendArgs) -> u8 {
    // Names mean commands of the device's generation: wait (up to the
    // command's timeout) to learn it when it is not fixed.
    let (generation, fallback) = link.command_generation(link.timeout()).await;
    let (mut call, warnings): (CommandCall, _) =
        match command_call(generation, &args.command, args.data.as_deref()) {
            Ok(call) => call,
            Err(message) => {
                eprintln!("remote_console: {message}");
                return EXIT_USAGE;
            }
        };
    for warning in fallback.into_iter().chain(warnings) {
        eprintln!("remote_console: warning: {warning}");
    }
    if let Some(custom) = args.custom {
        call = call.custom_command(custom);
    }
    let answer = match link.send(call).await {
        Ok(answer) => answer,
        Err(error) => {
            if let Some((code, message)) = refusal_of_error(&error) {
                report.refused(code, &message);
                return EXIT_DENIED;
            }
            report.error(error_chain(&error));
            return if error.unanswered() {
                EXIT_NO_ANSWER
            } else {
                EXIT_FAILED
            };
        }
    };
    let reply = &answer.reply;
    report.reply(reply);
    if let Some((code, message)) = refusal_of_reply(reply) {
        report.refused(code, &message);
        return EXIT_DENIED;
    }
    if answer.unanswered() {
        return EXIT_NO_ANSWER;
    }
    match args.wait.map(|wait| wait.0) {
        Some(patience) if reply.result == ApiCommandRequestResult::PendingWithNotification => {
            match link.wait_for_result(reply.nonce, patience).await {
                Ok(result) => {
                    report.result(&result);
                    if result.result == ApiCommandRequestResult::Success {
                        0
                    } else {
                        EXIT_FAILED
                    }
                }
                Err(error) => {
                    report.error(error_chain(&error));
                    EXIT_NO_ANSWER
                }
            }
        }
        _ if is_success(reply.result) => 0,
        _ => EXIT_FAILED,
    }
}

fn is_success(result: ApiCommandRequestResult) -> bool {
    matches!(
        result,
        ApiCommandRequestResult::Success
            | ApiCommandRequestResult::Pending
            | ApiCommandRequestResult::PendingWithNotification
    )
}

/// Prints published messages (on the `--topic`s, or all): `--count` of
/// them, or until Ctrl-C; gives up after `--max-wait`.
pub async fn listen(
    link: &Link,
    report: &Report,
    args: &ListenArgs,
    mut interrupted: watch::Receiver<bool>,
) -> u8 {
    let shown = if args.topic.is_empty() {
        None
    } else {
        match resolve_all_shown(args.topic.iter().map(String::as_str)) {
            Ok(shown) => Some(shown),
            Err(message) => {
                eprintln!("remote_console: {message}");
                return EXIT_USAGE;
            }
        }
    };
    let mut messages = match link.subscribe().await {
        Ok(messages) => messages,
        Err(error) => {
            report.error(error_chain(&error));
            return EXIT_NO_ANSWER;
        }
    };
    let mut printed = 0;
    let deadline = args
        .max_wait
        .map(|wait| tokio::time::Instant::now() + wait.0);
    while args.count.is_none_or(|n| printed < n) {
        let next = async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, messages.recv())
                    .await
                    .ok(),
                None => Some(messages.recv().await),
            }
        };
        let message = tokio::select! {
            m = next => m,
            _ = interrupted.wait_for(|i| *i) => return 0,
        };
        match message {
            Some(Some(message)) => {
                if shown
                    .as_ref()
                    .is_none_or(|s| s.contains(&shown_kind(&message)))
                {
                    report.message(&message);
                    printed += 1;
                }
            }
            Some(None) => return EXIT_NO_ANSWER,
            None => {
                report.error(format!("only {printed} message(s) before --max-wait"));
                return EXIT_NO_ANSWER;
            }
        }
    }
    0
}

/// `fleet status`: one line per rig of the bucket.
pub async fn fleet_status(args: &Args, url: &str, report: &Report) -> u8 {
    let states = match Fleet::connect(args, url).await {
        Ok(fleet) => fleet.rig_states().await,
        Err(message) => Err(message),
    };
    let states = match states {
        Ok(states) => states,
        Err(message) => {
            report.error(message);
            return EXIT_NO_ANSWER;
        }
    };
    if states.is_empty() {
        eprintln!("remote_console: no rig in the bucket {}", args.bucket);
    }
    for state in states {
        match state {
            Ok(state) => report.rig(&state),
            Err(message) => report.error(message),
        }
    }
    0
}
