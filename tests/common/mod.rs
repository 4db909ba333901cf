pub mod console;
pub mod examples;
pub mod python;
pub mod reference_v0_12;
pub mod signing;
pub mod zmq_client;
pub mod zmtp;
