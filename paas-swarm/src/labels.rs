//! The labels the platform writes on services, networks and secrets, and Traefik's.

use crate::config::RoutingConfig;
use paas_core::model::DomainName;
use std::collections::HashMap;

/// Marks everything the platform created (`true`); `list` and cleanup go by it.
pub const MANAGED: &str = "paas.managed";
/// The owning organisation's id.
pub const ORG: &str = "paas.org";
/// The app's id.
pub const APP: &str = "paas.app";
/// The release number a service (and each of its tasks) runs.
pub const RELEASE: &str = "paas.release";
/// On networks and secrets: the service they belong to.
pub const SERVICE: &str = "paas.service";
/// On secrets: the env key the secret holds.
pub const ENV_KEY: &str = "paas.env-key";

/// Traefik router and service name for `domain` of `service`: unique per (service, domain),
/// and only of characters Traefik accepts in names.
pub fn router_name(service: &str, domain: &DomainName) -> String {
    format!("{service}-{}", domain.as_str().replace('.', "-"))
}

/// Traefik's labels routing each domain to the service: a router with a `Host` rule, the
/// entrypoints and the TLS resolver, a load-balancer port when the app has one, the network
/// Traefik reaches it on. No domains, no labels (`traefik.enable` stays unset).
pub fn traefik_labels(
    service: &str,
    domains: &[DomainName],
    port: Option<u16>,
    routing: &RoutingConfig,
    network: &str,
) -> HashMap<String, String> {
    let mut l = HashMap::new();
    if domains.is_empty() {
        return l;
    }
    l.insert("traefik.enable".to_owned(), "true".to_owned());
    l.insert("traefik.swarm.network".to_owned(), network.to_owned());
    for domain in domains {
        let name = router_name(service, domain);
        let router = format!("traefik.http.routers.{name}");
        l.insert(format!("{router}.rule"), format!("Host(`{domain}`)"));
        l.insert(format!("{router}.service"), name.clone());
        if !routing.entrypoints.is_empty() {
            l.insert(
                format!("{router}.entrypoints"),
                routing.entrypoints.join(","),
            );
        }
        if let Some(resolver) = &routing.cert_resolver {
            l.insert(format!("{router}.tls"), "true".to_owned());
            l.insert(format!("{router}.tls.certresolver"), resolver.clone());
        }
        if let Some(port) = port {
            l.insert(
                format!("traefik.http.services.{name}.loadbalancer.server.port"),
                port.to_string(),
            );
        }
    }
    l
}

/// Parses a numeric label.
pub(crate) fn parse_u32(labels: Option<&HashMap<String, String>>, key: &str) -> Option<u32> {
    labels?.get(key)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_router_per_domain_with_rule_tls_and_port() {
        let domains: Vec<DomainName> = vec![
            "shop.example.com".parse().unwrap(),
            "www.shop.io".parse().unwrap(),
        ];
        let l = traefik_labels(
            "shop",
            &domains,
            Some(8080),
            &RoutingConfig::default(),
            "traefik-public",
        );
        assert_eq!(l["traefik.enable"], "true");
        assert_eq!(l["traefik.swarm.network"], "traefik-public");
        assert_eq!(
            l["traefik.http.routers.shop-shop-example-com.rule"],
            "Host(`shop.example.com`)"
        );
        assert_eq!(
            l["traefik.http.routers.shop-www-shop-io.rule"],
            "Host(`www.shop.io`)"
        );
        assert_eq!(
            l["traefik.http.routers.shop-www-shop-io.entrypoints"],
            "websecure"
        );
        assert_eq!(
            l["traefik.http.routers.shop-www-shop-io.tls.certresolver"],
            "letsencrypt"
        );
        assert_eq!(
            l["traefik.http.services.shop-shop-example-com.loadbalancer.server.port"],
            "8080"
        );
        assert_eq!(
            l["traefik.http.routers.shop-shop-example-com.service"],
            "shop-shop-example-com"
        );
    }

    #[test]
    fn no_domains_no_labels_and_no_resolver_no_tls() {
        assert!(traefik_labels("shop", &[], Some(80), &RoutingConfig::default(), "n").is_empty());
        let routing = RoutingConfig {
            cert_resolver: None,
            ..RoutingConfig::default()
        };
        let l = traefik_labels(
            "a",
            &["a.example.org".parse().unwrap()],
            None,
            &routing,
            "n",
        );
        assert!(!l.keys().any(|k| k.contains(".tls")));
        assert!(!l.keys().any(|k| k.contains("loadbalancer")));
    }
}
