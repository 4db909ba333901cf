//! A raw ZMTP 3.0 peer over a plain TCP socket: it sends what no ZeroMQ
//! library would (frames announced larger than what follows, frames that
//! never end), as a hostile peer on the lab network could.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

/// Frame flags of ZMTP 3.0.
const MORE: u8 = 0x01;
const LONG: u8 = 0x02;
const COMMAND: u8 = 0x04;

/// A connection that completed the NULL handshake as `socket_type`.
pub struct RawPeer {
    stream: TcpStream,
}

impl RawPeer {
    /// Connects to 127.0.0.1:`port` and sends the greeting and READY of a
    /// `socket_type` socket ("SUB", "REQ"). What the other side sends is
    /// never read: a hostile peer need not.
    pub fn connect(port: u16, socket_type: &str) -> std::io::Result<Self> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        // Signature, version 3.0, mechanism NULL, as-server 0, filler.
        let mut greeting = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
        greeting.extend_from_slice(b"NULL");
        greeting.resize(64, 0);
        stream.write_all(&greeting)?;
        let mut ready = vec![5];
        ready.extend_from_slice(b"READY");
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        ready.extend_from_slice(socket_type.as_bytes());
        stream.write_all(&[COMMAND, ready.len() as u8])?;
        stream.write_all(&ready)?;
        Ok(Self { stream })
    }

    /// Announces a frame of `size` bytes; its body is what is written next.
    pub fn frame_header(&mut self, size: u64, more: bool) -> std::io::Result<()> {
        let flags = if more { MORE } else { 0 };
        if size < 256 {
            self.stream.write_all(&[flags, size as u8])
        } else {
            self.stream.write_all(&[flags | LONG])?;
            self.stream.write_all(&size.to_be_bytes())
        }
    }

    /// One whole frame.
    pub fn frame(&mut self, body: &[u8], more: bool) -> std::io::Result<()> {
        self.frame_header(body.len() as u64, more)?;
        self.stream.write_all(body)
    }

    /// Writes `count` bytes of body, in chunks, until done or the other side
    /// closes the connection. How many were written.
    pub fn stream_bytes(&mut self, count: u64) -> u64 {
        let chunk = vec![b'x'; 64 * 1024];
        let mut written = 0;
        while written < count {
            let size = chunk.len().min((count - written) as usize);
            if self.stream.write_all(&chunk[..size]).is_err() {
                break;
            }
            written += size as u64;
        }
        written
    }
}
