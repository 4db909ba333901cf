pub mod examples;
pub mod python;
pub mod zmq_client;
pub mod zmtp;
