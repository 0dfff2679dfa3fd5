//! `possim serve` configuration: defaults, an optional TOML file, then command-line flags (the
//! last one given wins).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Default admin API address.
pub const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7100);
/// Default TYRIOS eCash address.
pub const DEFAULT_TYRIOS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7101);
/// Default Computop Paygate address.
pub const DEFAULT_COMPUTOP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7102);
/// Default PAYBACK loyalty address.
pub const DEFAULT_PAYBACK: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7103);
/// Default Loymax processing address.
pub const DEFAULT_LOYMAX: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7104);
/// Default ZVT terminal TCP address (the protocol's default port).
pub const DEFAULT_ZVT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 20007);

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
}

/// `[listen]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Admin API.
    pub admin: Option<String>,
    /// TYRIOS eCash.
    pub tyrios: Option<String>,
    /// Computop Paygate.
    pub computop: Option<String>,
    /// PAYBACK loyalty.
    pub payback: Option<String>,
    /// Loymax processing.
    pub loymax: Option<String>,
    /// ZVT terminal (TCP).
    pub zvt: Option<String>,
    /// ZVT terminal serial link: `pty`, `off` or a device path.
    #[serde(rename = "zvt-serial")]
    pub zvt_serial: Option<String>,
    /// Symlink to the pseudo-terminal, or `none`.
    #[serde(rename = "zvt-tty-link")]
    pub zvt_tty_link: Option<String>,
}

/// `[journal]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Ring size.
    pub capacity: Option<usize>,
    /// Record from the start.
    pub enabled: Option<bool>,
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
        assert_eq!(parse_addr("7101", "x").unwrap(), DEFAULT_TYRIOS);
        assert_eq!(parse_addr(":0", "x").unwrap().port(), 0);
        assert_eq!(parse_addr("0.0.0.0:80", "x").unwrap().to_string(), "0.0.0.0:80");
        let err = parse_addr("localhost:x", "--tyrios").unwrap_err().to_string();
        assert!(err.starts_with("--tyrios:"), "{err}");
    }
}
