//! What the bridge is configured with.

use std::time::Duration;

use auto_trainer_api::{Generation, RpcOptions};

/// The HTTP (Socket.IO) port when none is given: the reference bridge's.
pub const DEFAULT_HTTP_PORT: u16 = 8000;

/// How long a command waits for the Socket.IO client's answer before it is
/// answered FAILED: the reference bridge's 1 s.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The bridge's options: the HTTP side (Socket.IO and `/health`), the
/// device's service, and what binds them. Fields are public; start from
/// `BridgeOptions::default()` and change what you need. They are checked
/// once, by [`crate::Bridge::start`].
///
/// ```
/// use auto_trainer_bridge::BridgeOptions;
///
/// let mut options = BridgeOptions::default();
/// options.allowed_origins.push("https://trainer.lab.example".into());
/// assert_eq!(options.http_port, 8000);
/// assert_eq!(options.rpc.command_port, 5557);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BridgeOptions {
    /// The address the HTTP server listens on (an IP address or a host
    /// name). Default `0.0.0.0`, as the reference's.
    pub host: String,
    /// The HTTP port; 0 lets the OS pick one (see
    /// [`crate::Bridge::http_address`]). Default [`DEFAULT_HTTP_PORT`].
    pub http_port: u16,
    /// The device's service: its ports (0 lets the OS pick), bind
    /// addresses, identifier, heartbeat interval, protocol generation and
    /// keys for signed commands. Default [`RpcOptions::default`] with
    /// `protocol` 0.12, the generation whose reference has the bridge.
    pub rpc: RpcOptions,
    /// How long a command waits for the Socket.IO client's answer; past it
    /// the peer gets a FAILED reply. Default [`DEFAULT_COMMAND_TIMEOUT`].
    pub command_timeout: Duration,
    /// The browser origins (`scheme://host[:port]`, exactly as browsers
    /// send them) allowed to connect, with credentials. A request carrying
    /// any other `Origin` is refused with 403, on long-polling and on the
    /// WebSocket upgrade alike; a request without `Origin` (not a browser)
    /// is served. Default: none.
    pub allowed_origins: Vec<String>,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        let mut rpc = RpcOptions::default();
        rpc.protocol = Generation::V0_12;
        Self {
            host: "0.0.0.0".to_owned(),
            http_port: DEFAULT_HTTP_PORT,
            rpc,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            allowed_origins: Vec::new(),
        }
    }
}

impl BridgeOptions {
    /// Checks the options, saying what is wrong.
    ///
    /// # Errors
    /// The first problem found, as text: an invalid service option (see
    /// [`RpcOptions::validate`]), a zero command timeout, or an allowed
    /// origin that no browser would send.
    pub fn validate(&self) -> Result<(), String> {
        self.rpc.validate().map_err(|error| error.to_string())?;
        if self.command_timeout.is_zero() {
            return Err("the command timeout must be more than 0".to_owned());
        }
        if self.host.trim().is_empty() {
            return Err("the HTTP host must not be empty".to_owned());
        }
        for origin in &self.allowed_origins {
            check_origin(origin)?;
        }
        Ok(())
    }
}

/// Whether `origin` has the form of an `Origin` header: `http` or `https`,
/// `://`, a host and maybe a port, nothing after. Origins are compared as
/// exact text, so one that no browser would send would never match.
pub(crate) fn check_origin(origin: &str) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("allowed origin '{origin}': {why}"));
    if origin == "*" || origin.contains('*') {
        return refuse("wildcards are not accepted; list each origin (scheme://host[:port])");
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return refuse("expected scheme://host[:port], such as https://trainer.lab.example");
    };
    if scheme != "http" && scheme != "https" {
        return refuse("the scheme must be http or https, in lowercase");
    }
    if rest.is_empty() {
        return refuse("no host after the scheme");
    }
    if rest.contains(['/', '?', '#']) {
        return refuse("an origin has no path, not even a trailing '/'");
    }
    if rest
        .chars()
        .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
    {
        return refuse("browsers send origins in lowercase, without spaces");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_a_browser_sends_pass() {
        for origin in [
            "http://localhost:5173",
            "https://trainer.lab.example",
            "http://192.168.1.20:8080",
            "http://[::1]:3000",
        ] {
            assert_eq!(check_origin(origin), Ok(()), "{origin}");
        }
    }

    #[test]
    fn origins_no_browser_sends_are_refused_with_the_reason() {
        for (origin, reason) in [
            ("*", "wildcards"),
            ("https://*.lab.example", "wildcards"),
            ("trainer.lab.example", "scheme://host"),
            ("ftp://trainer.lab.example", "http or https"),
            ("https://trainer.lab.example/", "trailing"),
            ("https://trainer.lab.example/app", "no path"),
            ("https://Trainer.lab.example", "lowercase"),
            ("https://", "no host"),
        ] {
            let error = check_origin(origin).unwrap_err();
            assert!(error.contains(reason), "{origin}: {error}");
        }
    }

    #[test]
    fn the_defaults_are_the_references_with_protocol_0_12() {
        let options = BridgeOptions::default();
        assert_eq!(options.http_port, 8000);
        assert_eq!(options.command_timeout, Duration::from_secs(1));
        assert_eq!(options.rpc.protocol, Generation::V0_12);
        assert!(options.allowed_origins.is_empty());
        assert_eq!(options.validate(), Ok(()));
    }

    #[test]
    fn a_zero_command_timeout_is_refused() {
        let options = BridgeOptions {
            command_timeout: Duration::ZERO,
            ..BridgeOptions::default()
        };
        assert!(options.validate().unwrap_err().contains("command timeout"));
    }
}
