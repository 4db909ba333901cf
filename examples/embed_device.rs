//! The device side in brief: embed the API service in an app, answer
//! commands, publish an event. Start it, then command it from another
//! terminal with the ports it prints:
//!
//! ```text
//! cargo run --example embed_device                 # ports picked by the OS
//! cargo run --example embed_device -- 5556 5557    # or chosen
//! cargo run --example command_device -- 127.0.0.1 <events port> <commands port>
//! ```
//!
//! It serves until stdin ends: press Enter (or Ctrl-D).

use auto_trainer_api::{
    ApiAppStatus, ApiCommand, ApiCommandRequest, ApiCommandRequestResponse, ApiEvent, ApiEventKind,
    ApiTrainingMode, RequestContext, RpcOptions, RpcService, StatusResponse, ZeroMqRpcService,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 127.0.0.1, on the ports given or (0) ports the OS picks.
    let mut options = RpcOptions::loopback();
    let mut ports = std::env::args().skip(1).map(|port| port.parse::<u16>());
    options.subscriber_port = ports.next().transpose()?.unwrap_or(0);
    options.command_port = ports.next().transpose()?.unwrap_or(0);

    let service = ZeroMqRpcService::new(options);
    service.set_delegate(|request: ApiCommandRequest, context: &RequestContext| {
        match request.command {
            ApiCommand::GetStatus => {
                ApiCommandRequestResponse::success().with_data(&StatusResponse {
                    app_status: ApiAppStatus::Idle,
                    training_mode: ApiTrainingMode::Manual,
                    animal_id: "m-001".into(),
                })
            }
            // Slow work: answer "pending" now, publish the result when done.
            ApiCommand::StartAcquisition => {
                let done = context.accept_pending();
                std::thread::spawn(move || {
                    // ... start the cameras ...
                    let _ = done.complete(ApiCommandRequestResponse::success());
                });
                ApiCommandRequestResponse::pending_with_notification()
            }
            _ => ApiCommandRequestResponse::unrecognized(),
        }
    });
    service.start()?;
    println!(
        "serving: events on port {}, commands on port {}",
        service.subscriber_port(),
        service.command_port()
    );
    service.publish_event(ApiEvent::new(ApiEventKind::ApplicationLaunched, None))?;

    std::io::stdin().read_line(&mut String::new())?;
    service.stop();
    Ok(())
}
