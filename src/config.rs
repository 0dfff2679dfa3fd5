//! `possim serve` configuration: defaults, an optional TOML file, then command-line flags (the
//! last one given wins). The providers' listen addresses (`[listen] tyrios = …`, `--tyrios …`)
//! come from the provider registry (`src/registry.rs`): one key and one flag per provider.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::registry;

/// Default admin API address.
pub const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7100);

/// Where `possim serve` links the terminal's pseudo-terminal by default (in the working directory).
pub const DEFAULT_ZVT_TTY_LINK: &str = "possim-zvt.tty";

/// The config file (`--config possim.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data set name or directory.
    pub data: Option<String>,
    /// Frozen clock, RFC 3339.
    pub clock: Option<String>,
    /// Faults file armed at start.
    pub faults: Option<PathBuf>,
    /// Listen addresses.
    #[serde(default)]
    pub listen: ListenConfig,
    /// Journal settings.
    #[serde(default)]
    pub journal: JournalConfig,
    /// How much history the providers keep; replaces the data sets' `[retention]`.
    #[serde(default)]
    pub retention: Option<possim_engine::retention::Retention>,
    /// Admin API settings.
    #[serde(default)]
    pub admin: AdminConfig,
    /// The HTTP front's settings.
    #[serde(default)]
    pub http: HttpConfig,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds for a request head, then for its body (`--http-read-timeout`).
    #[serde(rename = "read-timeout")]
    pub read_timeout: Option<u64>,
}

/// `[admin]`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token the admin API requires (`--admin-token`).
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// `[listen]`: `admin`, one key per provider of the registry (its name), and the terminal's
/// serial link. Any other key is refused, naming the known ones.
#[derive(Debug, Default, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct ListenConfig {
    /// Admin API.
    pub admin: Option<String>,
    /// Provider name → address.
    pub providers: BTreeMap<String, String>,
    /// ZVT terminal serial link: `pty`, `off` or a device path.
    pub zvt_serial: Option<String>,
    /// Symlink to the pseudo-terminal, or `none`.
    pub zvt_tty_link: Option<String>,
    /// ZVT terminal TLS listener.
    pub zvt_tls: Option<String>,
}

/// The `[listen]` keys that are not provider names.
const LISTEN_KEYS: &[&str] = &["admin", "zvt-serial", "zvt-tty-link", "zvt-tls"];

impl TryFrom<BTreeMap<String, String>> for ListenConfig {
    type Error = String;

    fn try_from(mut keys: BTreeMap<String, String>) -> Result<Self, String> {
        let mut config = Self {
            admin: keys.remove("admin"),
            zvt_serial: keys.remove("zvt-serial"),
            zvt_tty_link: keys.remove("zvt-tty-link"),
            zvt_tls: keys.remove("zvt-tls"),
            providers: BTreeMap::new(),
        };
        for (key, value) in keys {
            if !registry::names().contains(&key.as_str()) {
                let known: Vec<&str> = LISTEN_KEYS[..1]
                    .iter()
                    .copied()
                    .chain(registry::names())
                    .chain(LISTEN_KEYS[1..].iter().copied())
                    .collect();
                return Err(format!("[listen]: unknown key `{key}` (known: {})", known.join(", ")));
            }
            config.providers.insert(key, value);
        }
        Ok(config)
    }
}

/// `[journal]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Ring size.
    pub capacity: Option<usize>,
    /// Record from the start.
    pub enabled: Option<bool>,
    /// Byte budget of the ring.
    #[serde(rename = "max-bytes")]
    pub max_bytes: Option<usize>,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Parses `HOST:PORT`, `:PORT` or a bare `PORT` (loopback). Port 0 picks a free port.
pub fn parse_addr(text: &str, what: &str) -> anyhow::Result<SocketAddr> {
    let text = text.trim();
    if let Ok(port) = text.trim_start_matches(':').parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    match text.parse::<SocketAddr>() {
        Ok(addr) => Ok(addr),
        Err(_) => bail!(
            "{what}: {text:?} is not an address (use HOST:PORT, e.g. 127.0.0.1:7101, or a port; 0 picks a free port)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("7101", "x").unwrap(),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7101)
        );
        assert_eq!(parse_addr(":0", "x").unwrap().port(), 0);
        assert_eq!(parse_addr("0.0.0.0:80", "x").unwrap().to_string(), "0.0.0.0:80");
        let err = parse_addr("localhost:x", "--tyrios").unwrap_err().to_string();
        assert!(err.starts_with("--tyrios:"), "{err}");
    }

    #[test]
    fn journal_bytes_and_retention_are_read() {
        let config: FileConfig =
            toml::from_str("[journal]\nmax-bytes = 1048576\n[retention]\ntransactions = 50\n").unwrap();
        assert_eq!(config.journal.max_bytes, Some(1_048_576));
        assert_eq!(config.retention.map(|r| r.transactions), Some(50));
        assert!(toml::from_str::<FileConfig>("[retention]\ntransactons = 5\n").is_err());
    }

    #[test]
    fn listen_keys_are_the_registrys_and_unknown_ones_are_refused() {
        let config: FileConfig = toml::from_str(
            "[listen]\nadmin = \"7100\"\ntyrios = \":0\"\nzvt = \"0\"\nzvt-serial = \"off\"\nzvt-tls = \"0\"\n",
        )
        .unwrap();
        assert_eq!(config.listen.admin.as_deref(), Some("7100"));
        assert_eq!(config.listen.providers.get("tyrios").map(String::as_str), Some(":0"));
        assert_eq!(config.listen.providers.get("zvt").map(String::as_str), Some("0"));
        assert_eq!(config.listen.zvt_serial.as_deref(), Some("off"));
        assert_eq!(config.listen.zvt_tls.as_deref(), Some("0"));
        let err = toml::from_str::<FileConfig>("[listen]\ntyrois = \"0\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "unknown key `tyrois` (known: admin, tyrios, computop, payback, loymax, zvt, zvt-serial, zvt-tty-link, zvt-tls)"
            ),
            "{err}"
        );
    }

    /// `possim.example.toml` loads, sets every key to the default it claims, and documents the
    /// one key it leaves out.
    #[test]
    fn the_example_config_loads_with_the_defaults_it_names() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("possim.example.toml");
        let config = FileConfig::read(&path).unwrap();
        assert_eq!(config.data.as_deref(), Some("default"));
        assert!(config.clock.is_some());
        assert_eq!(
            parse_addr(config.listen.admin.as_deref().unwrap(), "admin").unwrap(),
            DEFAULT_ADMIN
        );
        for spec in registry::PROVIDERS {
            let given = config.listen.providers.get(spec.name);
            let addr = parse_addr(
                given.unwrap_or_else(|| panic!("[listen] {} missing", spec.name)),
                spec.name,
            );
            assert_eq!(addr.unwrap(), spec.default_listen, "[listen] {}", spec.name);
        }
        assert_eq!(config.listen.zvt_serial.as_deref(), Some("pty"));
        assert_eq!(config.listen.zvt_tty_link.as_deref(), Some(DEFAULT_ZVT_TTY_LINK));
        assert_eq!(config.journal.capacity, Some(possim_engine::journal::DEFAULT_CAPACITY));
        assert_eq!(config.journal.enabled, Some(true));
        assert_eq!(
            config.journal.max_bytes,
            Some(possim_engine::journal::DEFAULT_MAX_BYTES)
        );
        assert_eq!(
            config.http.read_timeout,
            Some(possim_engine::front::DEFAULT_READ_TIMEOUT.as_secs())
        );
        // `faults` needs a file of the user's, a retention given here would replace the data
        // set's, and a token has no default: these are shown commented out.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            config.faults.is_none() && text.contains("\n# faults = "),
            "faults key not documented"
        );
        assert!(
            config.retention.is_none() && text.contains("\n# [retention]\n# transactions = 1000\n"),
            "retention not documented"
        );
        assert!(
            config.admin.token.is_none() && text.contains("\n# [admin]\n# token = "),
            "admin token not documented"
        );
    }
}
