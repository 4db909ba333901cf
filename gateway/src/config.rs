//! The gateway's configuration: a TOML file (FLEET.md, "Configuration"),
//! with the NATS connection overridable from the environment.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auto_trainer_api::{ClientOptions, Generation, SigningKey};
use serde::{Deserialize, Deserializer};

use crate::subjects::check_token;

/// Overrides `[nats] url`.
pub const NATS_URL_ENV: &str = "AUTOTRAINER_NATS_URL";
/// Overrides `[nats] credentials` (a `.creds` file).
pub const NATS_CREDENTIALS_ENV: &str = "AUTOTRAINER_NATS_CREDS";
/// Overrides `[nats] token`.
pub const NATS_TOKEN_ENV: &str = "AUTOTRAINER_NATS_TOKEN";

/// Rig names that are subjects of the gateway itself (`P.fleet.…`,
/// `P.gateway.…`).
const RESERVED_NAMES: [&str; 2] = ["fleet", "gateway"];

/// A configuration that cannot be used; the text says what and where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[gateway]`: who this gateway is.
    pub gateway: GatewaySection,
    /// `[nats]`: the connection and the names of the stream and bucket.
    #[serde(default)]
    pub nats: NatsSection,
    /// `[[rig]]`: the rigs to bridge.
    #[serde(default, rename = "rig")]
    pub rigs: Vec<RigConfig>,
    /// `[[operator]]`: who may use the dashboard and its API.
    #[serde(default, rename = "operator")]
    pub operators: Vec<OperatorConfig>,
    /// `[telemetry]`: the status figures as OpenTelemetry metrics (cargo
    /// feature `telemetry`).
    #[serde(default)]
    pub telemetry: TelemetrySection,
}

/// `[telemetry]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// Export metrics. Default false.
    pub enable: bool,
    /// The OTLP/HTTP endpoint; else `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: Option<String>,
    /// Sent as a header with every export when not empty.
    pub api_key: String,
}

impl TelemetrySection {
    /// The library's telemetry options for this section.
    pub fn options(&self) -> auto_trainer_api::TelemetryOptions {
        let mut options = auto_trainer_api::TelemetryOptions::default();
        options.enable = self.enable;
        options.endpoint.clone_from(&self.endpoint);
        options.api_key.clone_from(&self.api_key);
        options
    }
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The gateway's name: one subject token, in `P.gateway.<name>.status`
    /// and the `Autotrainer-Gateway` header.
    pub name: String,
    /// The address of the dashboard and its API (`host:port`; port 0: one
    /// the OS picks, printed on stdout as `http: http://<address>`). None:
    /// no HTTP server.
    #[serde(default)]
    pub http: Option<String>,
    /// Origins (`https://host[:port]`) of other sites whose pages may call
    /// the API with credentials (CORS). Default none: same-origin only.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// How often the gateway asks each online rig it bridges for its status
    /// (GET_STATUS), for the dashboard's grid. Default none: a rig's last
    /// status is the last GET_STATUS reply that went through the gateway.
    #[serde(default, deserialize_with = "optional_duration")]
    pub status_poll: Option<Duration>,
    /// Messages held for NATS (all rigs together) before new ones are
    /// dropped and counted, so a slow or absent NATS server never holds up
    /// the rigs. Default 8192.
    #[serde(default = "default_buffer")]
    pub buffer: usize,
}

fn default_buffer() -> usize {
    8192
}

/// `[nats]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSection {
    /// The server(s), comma-separated. Default `nats://127.0.0.1:4222`.
    pub url: String,
    /// A NATS credentials (`.creds`) file.
    pub credentials: Option<PathBuf>,
    /// A token for the server.
    pub token: Option<String>,
    /// Require TLS.
    pub tls_required: bool,
    /// A CA certificate (PEM) to trust for the server's.
    pub tls_ca_file: Option<PathBuf>,
    /// `P`, the first token of every subject. Default `autotrainer`.
    pub prefix: String,
    /// The JetStream stream of the event history. Default `AUTOTRAINER`.
    pub stream: String,
    /// The key-value bucket of rig states. Default `autotrainer_rigs`.
    pub bucket: String,
    /// How long a command waits for its rig's reply. Default 2 s.
    #[serde(deserialize_with = "duration")]
    pub command_timeout: Duration,
    /// How long the stream keeps a message. Default 30 days.
    #[serde(deserialize_with = "duration")]
    pub max_age: Duration,
    /// The most bytes the stream keeps (oldest dropped first). Default 1 GiB.
    pub max_bytes: i64,
    /// How long the stream remembers message ids to drop duplicates (the
    /// copies two gateways publish). Default 2 min, the least allowed.
    #[serde(deserialize_with = "duration")]
    pub duplicate_window: Duration,
}

impl Default for NatsSection {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            credentials: None,
            token: None,
            tls_required: false,
            tls_ca_file: None,
            prefix: "autotrainer".into(),
            stream: "AUTOTRAINER".into(),
            bucket: "autotrainer_rigs".into(),
            command_timeout: Duration::from_secs(2),
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_bytes: 1 << 30,
            duplicate_window: MIN_DUPLICATE_WINDOW,
        }
    }
}

/// Two gateways' copies of a message may be this far apart and still be
/// told apart from a new message (FLEET.md: at least two minutes).
pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The shortest operator token accepted: a token is a password.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// The protocol generation of a rig: `"0.9"`, `"0.12"`, or `"auto"`
/// (detected from its heartbeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolChoice {
    /// Detected from the rig's heartbeats.
    #[default]
    Auto,
    /// Always this generation.
    Fixed(Generation),
}

impl<'de> Deserialize<'de> for ProtocolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "auto" => Ok(Self::Auto),
            "0.9" => Ok(Self::Fixed(Generation::V0_9)),
            "0.12" => Ok(Self::Fixed(Generation::V0_12)),
            other => Err(serde::de::Error::custom(format!(
                "protocol '{other}': \"0.9\", \"0.12\" or \"auto\""
            ))),
        }
    }
}

/// `[[rig]]`: one rig and how to reach it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigConfig {
    /// The rig's name: one subject token, not `fleet` or `gateway`.
    pub name: String,
    /// Its host name or address.
    pub host: String,
    /// Its PUB port.
    pub pub_port: u16,
    /// Its command (REP) port.
    pub cmd_port: u16,
    /// Its protocol generation. Default `auto`.
    #[serde(default)]
    pub protocol: ProtocolChoice,
    /// A key file (PROTOCOL.md) holding the key to sign its commands with,
    /// relative to the configuration file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Which key of `key_file` (needed when it holds several).
    #[serde(default)]
    pub key_id: Option<String>,
    /// Offline after this long without a heartbeat. Default: 3 of the
    /// rig's heartbeat intervals, learned from its heartbeats.
    #[serde(default, deserialize_with = "optional_duration")]
    pub heartbeat_timeout: Option<Duration>,
}

/// `[[operator]]`: a dashboard user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Who.
    pub name: String,
    /// Their secret token.
    pub token: String,
    /// What they may do.
    pub role: Role,
}

/// What an operator may do with the dashboard and its API; each role may
/// do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees everything, sends nothing.
    Viewer,
    /// Sends commands to rigs and the fleet-wide emergency stop.
    Operator,
    /// Everything.
    Admin,
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("'{text}' is not a duration: {e}")))
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

impl Config {
    /// Reads, checks and completes the file at `path`: paths in it are
    /// taken relative to its directory, then the environment's NATS
    /// overrides apply.
    ///
    /// # Errors
    /// When it cannot be read, is not this configuration, or names rigs
    /// that cannot be used.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Self::from_toml(&text)
            .map_err(|ConfigError(why)| ConfigError(format!("{}: {why}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.apply_environment(|name| std::env::var(name).ok());
        Ok(config)
    }

    /// Reads and checks a configuration text.
    ///
    /// ```
    /// let config = auto_trainer_gateway::Config::from_toml(r#"
    ///     [gateway]
    ///     name = "site-a"
    ///     [[rig]]
    ///     name = "rig-7"
    ///     host = "10.1.2.17"
    ///     pub_port = 5556
    ///     cmd_port = 5557
    /// "#).unwrap();
    /// assert_eq!(config.nats.prefix, "autotrainer");
    /// assert!(auto_trainer_gateway::Config::from_toml("[gateway]\nname = \"a.b\"").is_err());
    /// ```
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        check_token(&self.gateway.name)
            .map_err(|why| ConfigError(format!("[gateway] name: {why}")))?;
        for token in self.nats.prefix.split('.') {
            check_token(token).map_err(|why| ConfigError(format!("[nats] prefix: {why}")))?;
        }
        if self.nats.duplicate_window < MIN_DUPLICATE_WINDOW {
            return Err(ConfigError(format!(
                "[nats] duplicate_window: at least {}",
                humantime::format_duration(MIN_DUPLICATE_WINDOW)
            )));
        }
        if self.gateway.buffer == 0 {
            return Err(ConfigError("[gateway] buffer: at least 1".into()));
        }
        self.check_http()?;
        let mut names = HashSet::new();
        for rig in &self.rigs {
            let name = &rig.name;
            check_token(name).map_err(|why| ConfigError(format!("rig '{name}': {why}")))?;
            if RESERVED_NAMES.contains(&name.as_str()) {
                return Err(ConfigError(format!(
                    "rig '{name}': the name is reserved (P.{name}.… are the gateway's subjects)"
                )));
            }
            if !names.insert(name) {
                return Err(ConfigError(format!("rig '{name}' is configured twice")));
            }
            if rig.key_id.is_some() && rig.key_file.is_none() {
                return Err(ConfigError(format!(
                    "rig '{name}': key_id without key_file"
                )));
            }
        }
        Ok(())
    }

    fn check_http(&self) -> Result<(), ConfigError> {
        for origin in &self.gateway.allowed_origins {
            let scheme = origin.starts_with("http://") || origin.starts_with("https://");
            let plain = origin.is_ascii() && !origin.contains(['*', ' ', ',']);
            if !scheme || !plain || origin.ends_with('/') {
                return Err(ConfigError(format!(
                    "[gateway] allowed_origins: '{origin}' is not an origin like \"https://host:port\" (no '*', no path)"
                )));
            }
        }
        if self.gateway.status_poll == Some(Duration::ZERO) {
            return Err(ConfigError("[gateway] status_poll: more than 0".into()));
        }
        let mut tokens = HashSet::new();
        for operator in &self.operators {
            let name = &operator.name;
            if name.is_empty() {
                return Err(ConfigError("[[operator]] without a name".into()));
            }
            if operator.token.len() < MIN_TOKEN_LENGTH {
                return Err(ConfigError(format!(
                    "operator '{name}': a token of at least {MIN_TOKEN_LENGTH} characters"
                )));
            }
            if !tokens.insert(&operator.token) {
                return Err(ConfigError(format!(
                    "operator '{name}': the same token as another operator"
                )));
            }
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        for rig in &mut self.rigs {
            rig.key_file.as_mut().map(resolve);
        }
        self.nats.credentials.as_mut().map(resolve);
        self.nats.tls_ca_file.as_mut().map(resolve);
    }

    /// Applies [`NATS_URL_ENV`], [`NATS_CREDENTIALS_ENV`] and
    /// [`NATS_TOKEN_ENV`] as read by `variable`.
    pub fn apply_environment(&mut self, variable: impl Fn(&str) -> Option<String>) {
        if let Some(url) = variable(NATS_URL_ENV) {
            self.nats.url = url;
        }
        if let Some(file) = variable(NATS_CREDENTIALS_ENV) {
            self.nats.credentials = Some(file.into());
        }
        if let Some(token) = variable(NATS_TOKEN_ENV) {
            self.nats.token = Some(token);
        }
    }
}

impl RigConfig {
    /// The operator client's options for this rig: commands sent once (a
    /// relayed command is never repeated behind its sender's back), within
    /// `command_timeout`, signed with the rig's key when it has one.
    ///
    /// # Errors
    /// When the rig's key file cannot be read or lacks the key.
    pub fn client_options(&self, command_timeout: Duration) -> Result<ClientOptions, ConfigError> {
        let mut options =
            ClientOptions::new(self.host.clone()).with_ports(self.pub_port, self.cmd_port);
        options.request_timeout = command_timeout;
        options.retries = 0;
        options.protocol = match self.protocol {
            ProtocolChoice::Auto => None,
            ProtocolChoice::Fixed(generation) => Some(generation),
        };
        if let Some(timeout) = self.heartbeat_timeout {
            options.heartbeat_interval = Some(timeout / options.missed_heartbeats);
        }
        if let Some(file) = &self.key_file {
            let key = SigningKey::from_key_file(file, self.key_id.as_deref())
                .map_err(|e| ConfigError(format!("rig '{}': {e}", self.name)))?;
            options.signing = Some(key);
        }
        options
            .validate()
            .map_err(|e| ConfigError(format!("rig '{}': {e}", self.name)))?;
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        [gateway]
        name = "site-a"
        http = "127.0.0.1:8080"

        [nats]
        url = "nats://127.0.0.1:4222"
        prefix = "autotrainer"
        stream = "AUTOTRAINER"
        bucket = "autotrainer_rigs"
        command_timeout = "2s"

        [[rig]]
        name = "rig-7"
        host = "10.1.2.17"
        pub_port = 5556
        cmd_port = 5557
        protocol = "auto"
        key_file = "keys/rig-7.toml"
        key_id = "gateway-site-a"

        [[operator]]
        name = "alice"
        token = "a-token-long-enough"
        role = "operator"
    "#;

    #[test]
    fn fleet_md_s_sample_reads() {
        let config = Config::from_toml(SAMPLE).unwrap();
        assert_eq!(config.gateway.name, "site-a");
        assert_eq!(config.nats.command_timeout, Duration::from_secs(2));
        assert_eq!(config.rigs[0].protocol, ProtocolChoice::Auto);
        assert_eq!(config.operators[0].role, Role::Operator);
        assert_eq!(config.nats.duplicate_window, MIN_DUPLICATE_WINDOW);
    }

    #[test]
    fn rigs_that_cannot_be_subjects_are_refused_with_the_reason() {
        let with_rig = |name: &str| {
            format!(
                "[gateway]\nname = \"g\"\n[[rig]]\nname = \"{name}\"\nhost = \"h\"\npub_port = 1\ncmd_port = 2\n"
            )
        };
        for (name, why) in [
            ("rig.7", "letters, digits"),
            ("rig 7", "letters, digits"),
            ("", "empty"),
            ("fleet", "reserved"),
            ("gateway", "reserved"),
        ] {
            let error = Config::from_toml(&with_rig(name)).unwrap_err().0;
            assert!(error.contains(why), "{name}: {error}");
        }
        let twice = format!(
            "{}{}",
            with_rig("a"),
            with_rig("a").replace("[gateway]\nname = \"g\"\n", "")
        );
        assert!(Config::from_toml(&twice).unwrap_err().0.contains("twice"));
        assert!(Config::from_toml("[gateway]\nname = \"g\"\nsurprise = 1")
            .unwrap_err()
            .0
            .contains("surprise"));
        assert!(
            Config::from_toml("[gateway]\nname = \"g\"\n[nats]\nduplicate_window = \"10s\"")
                .is_err()
        );
    }

    #[test]
    fn operators_and_origins_are_checked() {
        let with = |extra: &str| Config::from_toml(&format!("[gateway]\nname = \"g\"\n{extra}"));
        assert!(with("allowed_origins = [\"https://lab.example:8443\"]").is_ok());
        for origin in [
            "*",
            "lab.example",
            "https://lab.example/",
            "https://*.example",
        ] {
            let error = with(&format!("allowed_origins = [\"{origin}\"]"))
                .unwrap_err()
                .0;
            assert!(error.contains("allowed_origins"), "{origin}: {error}");
        }
        let operator = |token: &str, role: &str| {
            format!("[[operator]]\nname = \"a\"\ntoken = \"{token}\"\nrole = \"{role}\"\n")
        };
        assert!(with(&operator("short", "viewer"))
            .unwrap_err()
            .0
            .contains("at least"));
        assert!(with(&operator("a-token-long-enough", "root")).is_err());
        let twice = format!(
            "{}{}",
            operator("a-token-long-enough", "viewer"),
            operator("a-token-long-enough", "admin")
        );
        assert!(with(&twice).unwrap_err().0.contains("same token"));
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }

    #[test]
    fn the_readme_s_dashboard_configuration_reads() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("### Dashboard").expect("the section")..];
        let block = section
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a toml block");
        let config = Config::from_toml(block).unwrap();
        assert_eq!(config.gateway.http.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(config.operators[0].role, Role::Operator);
    }

    #[test]
    fn the_environment_overrides_the_nats_connection() {
        let mut config = Config::from_toml(SAMPLE).unwrap();
        config.apply_environment(|name| match name {
            NATS_URL_ENV => Some("nats://elsewhere:4222".into()),
            NATS_TOKEN_ENV => Some("secret".into()),
            _ => None,
        });
        assert_eq!(config.nats.url, "nats://elsewhere:4222");
        assert_eq!(config.nats.token.as_deref(), Some("secret"));
        assert_eq!(config.nats.credentials, None);
    }

    #[test]
    fn relative_key_files_are_next_to_the_configuration() {
        let mut config = Config::from_toml(SAMPLE).unwrap();
        config.resolve_paths(Path::new("/etc/gateway"));
        assert_eq!(
            config.rigs[0].key_file.as_deref(),
            Some(Path::new("/etc/gateway/keys/rig-7.toml"))
        );
    }
}
