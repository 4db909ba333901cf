pub mod python;
pub mod zmq_client;
