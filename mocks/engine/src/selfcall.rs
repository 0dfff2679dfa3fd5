//! Outbound calls never reach possim itself.
//!
//! A provider that calls out on a URL its client gave it (Computop's notify and browser return)
//! would otherwise let that client steer possim against itself: a notify to
//! `http://127.0.0.1:7100/__admin/reset` wipes state, faults and journal. The engine knows
//! every address it listens on ([`SelfCalls::add_listener`], called for the admin API and each
//! provider port); a provider asks [`SelfCalls::check_url`] when it accepts a URL (no name
//! resolution: IP literals in every spelling the URL standard knows, `localhost`) and
//! [`SelfCalls::check_resolved`] right before it sends (the host's resolved addresses), and
//! refuses or drops the call when either names one of possim's own listeners.
//!
//! Explicitly allowed with `possim serve --allow-self-calls` ([`SelfCalls::set_allowed`]); a
//! provider may offer its own data-set switch as well (Computop: `allowSelfCallbacks`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use url::{Host, Url};

/// How long [`SelfCalls::check_resolved`] waits for name resolution before letting the call
/// go ahead (the HTTP client then resolves, and fails, on its own).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// possim's own listening addresses and whether calls to them are allowed.
#[derive(Debug, Default)]
pub struct SelfCalls {
    listeners: RwLock<Vec<SocketAddr>>,
    allowed: AtomicBool,
}

impl SelfCalls {
    /// Records an address possim listens on (as bound: port 0 already replaced).
    pub fn add_listener(&self, addr: SocketAddr) {
        self.listeners.write().unwrap_or_else(|p| p.into_inner()).push(addr);
    }

    /// Allows outbound calls to possim's own listeners (`--allow-self-calls`).
    pub fn set_allowed(&self, allowed: bool) {
        self.allowed.store(allowed, Ordering::Relaxed);
    }

    /// Whether calls to possim's own listeners are allowed.
    pub fn allowed(&self) -> bool {
        self.allowed.load(Ordering::Relaxed)
    }

    /// Why `url` would reach one of possim's own listeners, judged without name resolution;
    /// `None` when it would not (or self-calls are allowed, or the URL is not one an HTTP
    /// client could call: other checks judge that).
    pub fn check_url(&self, url: &str) -> Option<String> {
        if self.allowed() {
            return None;
        }
        let (host, port) = host_and_port(url)?;
        let ips = match host {
            Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            Host::Domain(name) if is_localhost(&name) => {
                vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]
            }
            Host::Domain(_) => return None,
        };
        self.judge(url, &ips, port)
    }

    /// [`SelfCalls::check_url`], and for a host name also every address it resolves to.
    pub async fn check_resolved(&self, url: &str) -> Option<String> {
        if let Some(why) = self.check_url(url) {
            return Some(why);
        }
        if self.allowed() {
            return None;
        }
        let (Host::Domain(name), port) = host_and_port(url)? else {
            return None;
        };
        let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name.as_str(), port)))
            .await
            .ok()?
            .ok()?;
        let ips: Vec<IpAddr> = resolved.map(|a| a.ip()).collect();
        self.judge(url, &ips, port)
    }

    fn judge(&self, url: &str, ips: &[IpAddr], port: u16) -> Option<String> {
        let listeners = self.listeners.read().unwrap_or_else(|p| p.into_inner());
        let hit = listeners
            .iter()
            .find(|listener| ips.iter().any(|ip| reaches(*ip, port, **listener)))?;
        Some(format!(
            "{url} points at possim itself (its listener {hit}); outbound calls to possim are refused \
             unless allowed (possim serve --allow-self-calls)"
        ))
    }
}

/// Host and port (the scheme's default when none) of an absolute http(s) URL, parsed as an HTTP
/// client does: `http://2130706433/`, `http://0x7f.1/` and `http://[::ffff:127.0.0.1]/` are all
/// 127.0.0.1.
fn host_and_port(url: &str) -> Option<(Host<String>, u16)> {
    let parsed = Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let port = parsed.port_or_known_default()?;
    Some((parsed.host()?.to_owned(), port))
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether a connection to `ip:port` lands on `listener`.
fn reaches(ip: IpAddr, port: u16, listener: SocketAddr) -> bool {
    if port != listener.port() {
        return false;
    }
    let ip = ip.to_canonical();
    let bound = listener.ip().to_canonical();
    if ip == bound {
        return true;
    }
    // Connecting to 0.0.0.0 or :: reaches this host.
    if ip.is_unspecified() && is_local(bound) {
        return true;
    }
    // A listener on every interface is reached through any address of this host.
    bound.is_unspecified() && is_local(ip)
}

/// Whether `ip` belongs to this host: loopback, unspecified, or an address a socket can bind.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listeners: &[&str]) -> SelfCalls {
        let calls = SelfCalls::default();
        for l in listeners {
            calls.add_listener(l.parse().unwrap());
        }
        calls
    }

    #[test]
    fn every_spelling_of_a_loopback_listener_is_refused() {
        let calls = guard(&["127.0.0.1:7100", "127.0.0.1:7101"]);
        for url in [
            "http://127.0.0.1:7100/__admin/reset",
            "HTTP://127.0.0.1:7100/__admin/reset",
            "http://localhost:7100/__admin/reset",
            "http://LOCALHOST.:7101/x",
            "http://shop.localhost:7101/x",
            "http://0.0.0.0:7100/__admin/reset",
            "http://0:7100/",
            "http://2130706433:7100/",
            "http://0x7f.1:7100/",
            "http://[::ffff:127.0.0.1]:7100/",
            "http://user:pw@127.0.0.1:7100/",
            "http://[::]:7101/",
        ] {
            let why = calls.check_url(url);
            assert!(
                why.as_deref().is_some_and(|w| w.contains("points at possim itself")),
                "{url}: {why:?}"
            );
        }
        for url in [
            "http://127.0.0.1:7102/notify",
            "http://127.0.0.2:7100/notify",
            "https://127.0.0.1/notify",
            "https://shop.example/notify",
            "not a url",
            "ftp://127.0.0.1:7100/",
        ] {
            assert_eq!(calls.check_url(url), None, "{url}");
        }
    }

    #[test]
    fn a_listener_on_every_interface_is_reached_through_loopback_and_default_ports_count() {
        let calls = guard(&["0.0.0.0:80", "[::]:443"]);
        assert!(calls.check_url("http://127.0.0.1/").is_some());
        assert!(calls.check_url("http://127.9.9.9:80/").is_some());
        assert!(calls.check_url("https://[::1]/").is_some());
        assert!(calls.check_url("https://localhost/").is_some());
        // 192.0.2.1 (TEST-NET-1) is no address of this host.
        assert_eq!(calls.check_url("http://192.0.2.1/"), None);
    }

    #[test]
    fn allowed_self_calls_pass() {
        let calls = guard(&["127.0.0.1:7100"]);
        calls.set_allowed(true);
        assert_eq!(calls.check_url("http://127.0.0.1:7100/__admin/reset"), None);
    }

    #[tokio::test]
    async fn resolved_names_are_judged_by_their_addresses() {
        let calls = guard(&["127.0.0.1:7100"]);
        assert!(calls.check_resolved("http://localhost:7100/").await.is_some());
        assert_eq!(calls.check_resolved("http://localhost:7199/").await, None);
    }
}
