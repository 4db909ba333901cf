//! The operator side in brief: ask a device for its status. Start a device
//! first (`embed_device` prints its ports), then:
//!
//! ```text
//! cargo run --example embed_device
//! cargo run --example command_device -- 127.0.0.1 <events port> <commands port>
//! ```

use auto_trainer_api::{
    decode_payload, ApiCommand, BlockingDeviceClient, ClientOptions, StatusResponse,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, events_port, commands_port] = args.as_slice() else {
        return Err("usage: command_device <host> <events port> <commands port>".into());
    };
    let options =
        ClientOptions::new(host.as_str()).with_ports(events_port.parse()?, commands_port.parse()?);
    let client = BlockingDeviceClient::connect(options)?;

    let reply = client.send_command(ApiCommand::GetStatus, None)?;
    println!("reply: {} (nonce {})", reply.result, reply.nonce);
    let status: StatusResponse = decode_payload(reply.data.as_ref().ok_or("no status data")?)?;
    println!(
        "status: {}, training mode {}, animal '{}'",
        status.app_status, status.training_mode, status.animal_id
    );
    client.close();
    Ok(())
}
