//! Who is on the other end of a connection: the client's address and whether it
//! reached us over HTTPS, believing a proxy's `X-Forwarded-*` headers only when the
//! proxy is one the admin named (`--trusted-proxies`).

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;
use actix_web::web;
use ipnet::IpNet;

use crate::config::{Config, PublicUrl};

/// What this node knows about the path between clients and itself.
#[derive(Debug, Clone, Default)]
pub struct ClientPath {
    trusted_proxies: Vec<IpNet>,
    /// `--public-url` is https: cookies are `Secure` and answers carry HSTS.
    public_https: bool,
    /// `--public-url`, for links natter hands out (invitations).
    public_url: Option<String>,
}

impl ClientPath {
    pub fn new(config: &Config) -> Self {
        Self {
            trusted_proxies: config.trusted_proxies.clone(),
            public_https: config.public_url.as_ref().is_some_and(PublicUrl::is_https),
            public_url: config
                .public_url
                .as_ref()
                .map(|url| url.as_str().to_owned()),
        }
    }

    pub fn public_https(&self) -> bool {
        self.public_https
    }

    /// Where people reach natter, for links: `--public-url`, else the scheme and host
    /// this request came in by.
    pub fn base_url(&self, request: &HttpRequest) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let scheme = if self.is_https(request) {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", request.connection_info().host())
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.trusted_proxies
            .iter()
            .any(|network| network.contains(&address))
    }

    /// The client's address: the connection's, or, when that is a trusted proxy, the
    /// nearest address in `X-Forwarded-For` that is not one (the entries a client wrote
    /// itself come before those its proxies appended, so they are never reached first).
    pub fn address(&self, request: &HttpRequest) -> IpAddr {
        let peer = request
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| {
                canonical(peer.ip())
            });
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        let mut nearest = peer;
        for entry in forwarded.iter().rev() {
            let Ok(address) = entry.trim().parse::<IpAddr>() else {
                // Unreadable: whoever wrote it is not to be believed further.
                return nearest;
            };
            nearest = canonical(address);
            if !self.trusts(nearest) {
                return nearest;
            }
        }
        nearest
    }

    /// Whether the client reached us over HTTPS: `--public-url` says so, or a trusted
    /// proxy does with `X-Forwarded-Proto`.
    pub fn is_https(&self, request: &HttpRequest) -> bool {
        if self.public_https {
            return true;
        }
        let from_trusted_proxy = request
            .peer_addr()
            .is_some_and(|peer| self.trusts(peer.ip()));
        from_trusted_proxy
            && request
                .headers()
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 one.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The caller's address, for handlers (an absent [`ClientPath`] trusts no proxy).
pub fn address_of(request: &HttpRequest) -> IpAddr {
    match request.app_data::<web::Data<ClientPath>>() {
        Some(path) => path.address(request),
        None => ClientPath::default().address(request),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn path(proxies: &[&str]) -> ClientPath {
        ClientPath {
            trusted_proxies: proxies
                .iter()
                .map(|p| p.parse().expect("a network"))
                .collect(),
            public_https: false,
            public_url: None,
        }
    }

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().expect("address"));
        if let Some(forwarded) = forwarded {
            request = request.insert_header(("x-forwarded-for", forwarded));
        }
        request.to_http_request()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let none = path(&[]);
        let spoofed = request("203.0.113.9:5000", Some("198.51.100.1"));
        assert_eq!(none.address(&spoofed).to_string(), "203.0.113.9");

        let proxies = path(&["10.0.0.0/8"]);
        let behind_proxy = request("10.0.0.2:5000", Some("198.51.100.1"));
        assert_eq!(proxies.address(&behind_proxy).to_string(), "198.51.100.1");
        // A client that writes its own X-Forwarded-For is still found by its real
        // address, the one the proxy appended.
        let forged = request("10.0.0.2:5000", Some("192.0.2.7, 198.51.100.1"));
        assert_eq!(proxies.address(&forged).to_string(), "198.51.100.1");
        // Through two proxies.
        let chained = request("10.0.0.2:5000", Some("198.51.100.1, 10.0.0.3"));
        assert_eq!(proxies.address(&chained).to_string(), "198.51.100.1");
        // Not from the proxy: the header is ignored.
        let direct = request("198.51.100.5:5000", Some("192.0.2.7"));
        assert_eq!(proxies.address(&direct).to_string(), "198.51.100.5");
        let garbage = request("10.0.0.2:5000", Some("nonsense"));
        assert_eq!(proxies.address(&garbage).to_string(), "10.0.0.2");
    }

    #[test]
    fn https_comes_from_the_public_url_or_a_trusted_proxy() {
        let mut proxies = path(&["10.0.0.0/8"]);
        let claims = |peer: &str| {
            TestRequest::default()
                .peer_addr(peer.parse().expect("address"))
                .insert_header(("x-forwarded-proto", "https"))
                .to_http_request()
        };
        assert!(proxies.is_https(&claims("10.0.0.2:1")));
        assert!(!proxies.is_https(&claims("203.0.113.9:1")));
        proxies.public_https = true;
        assert!(proxies.is_https(&request("203.0.113.9:1", None)));
    }
}
