//! The data plane servers Fogbank runs for every VPC: the instance metadata service (IMDS,
//! `169.254.169.254:80`, [`imds`]) and the VPC resolver (AmazonProvidedDNS, base+2 port 53,
//! [`dns`]).
//!
//! Both are plain tokio servers: they know neither namespaces nor the store. The caller opens
//! their sockets inside a VPC's router namespace (`fogbank_netns::Substrate::listen_tcp_in_vpc`
//! and `bind_udp_in_vpc`), so peers are the instances' private addresses, and hands in a lookup
//! closure that answers from stored state:
//!
//! ```ignore
//! let imds = tokio::spawn(dataplane::serve_imds(tcp_listener, instance_by_private_ip, region.clone()));
//! let dns = tokio::spawn(dataplane::serve_dns(udp_socket, DnsResolver { region, lookup: address_of_name }));
//! // when the VPC goes away:
//! imds.abort();
//! dns.abort();
//! ```
//!
//! Lookups are called on the runtime's worker threads for every request: they should be quick
//! (one store read) and must not block for long.

pub mod dns;
pub mod imds;

pub use dns::{ip_from_private_name, private_dns_suffix, serve_dns, DnsResolver, NameLookup};
pub use imds::{serve_imds, InstanceLookup};
