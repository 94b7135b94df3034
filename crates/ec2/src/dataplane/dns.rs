//! The VPC resolver (AmazonProvidedDNS at base+2, UDP port 53), minimal and authoritative for
//! the VPC's private names only.
//!
//! - `A` for names under the private suffix that the caller's lookup knows:
//!   `ip-10-0-1-5.ec2.internal` (us-east-1) or `ip-10-0-1-5.<region>.compute.internal` (other
//!   regions), an instance's `PrivateDnsName` exactly: one answer, TTL 60, `AA` set. `ANY` is
//!   answered like `A`. The lookup is asked about names under the suffix only.
//! - Other types (`AAAA`, `MX`, ...) for a known name: `NOERROR` without answers (NODATA).
//! - Unknown names under the private suffix: `NXDOMAIN`. The suffix itself: NODATA.
//! - `PTR` for `5.1.0.10.in-addr.arpa` when `ip-10-0-1-5.<suffix>` is known: its name.
//! - Anything else (other domains, other reverse names, classes other than `IN`): `REFUSED`.
//!   Nothing is resolved upstream: instances have no path out of the machine.
//! - Opcodes other than `QUERY`: `NOTIMP`.
//!
//! Replies carry the query's id, `QR`, the query's `RD`, `RA` (AmazonProvidedDNS is a recursive
//! resolver), the question copied byte for byte (so 0x20 case randomisation survives), and no
//! additional section: EDNS `OPT` records of queries are ignored and not echoed, so replies are
//! plain RFC 1035 messages, always under 512 bytes. Only the first question is read and
//! answered. Packets that are not well-formed queries (too short, `QR` set, no question, a
//! truncated or compressed question name) are dropped without a reply. No TCP.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

/// Answers a name (lower case, no trailing dot) with the address of the instance it names, if
/// any, in this VPC.
pub type NameLookup = Arc<dyn Fn(&str) -> Option<Ipv4Addr> + Send + Sync>;

/// What the resolver of one VPC needs to know.
#[derive(Clone)]
pub struct DnsResolver {
    /// The VPC's region: it picks the private suffix (`ec2.internal` or
    /// `<region>.compute.internal`).
    pub region: String,
    /// Names to addresses; [`ip_from_private_name`] helps to implement it.
    pub lookup: NameLookup,
}

/// TTL of every answer.
const TTL: u32 = 60;
const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_NOTIMP: u16 = 4;
const RCODE_REFUSED: u16 = 5;
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
/// Longest name in wire form (RFC 1035 2.3.4).
const MAX_NAME: usize = 255;

/// The private DNS suffix of a region: `ec2.internal` in us-east-1, else
/// `<region>.compute.internal`.
pub fn private_dns_suffix(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_string()
    } else {
        format!("{region}.compute.internal")
    }
}

/// The address an IP-based private name stands for: `ip-10-0-1-5.ec2.internal` -> 10.0.1.5
/// (case-insensitive, trailing dot allowed; only the canonical form, no leading zeros).
/// Whether an instance holds that address is for the caller to check.
pub fn ip_from_private_name(name: &str, region: &str) -> Option<Ipv4Addr> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let host = name.strip_suffix(&private_dns_suffix(region))?.strip_suffix('.')?;
    let dashed = host.strip_prefix("ip-")?;
    let mut octets = [0u8; 4];
    let mut parts = dashed.split('-');
    for octet in &mut octets {
        *octet = canonical_octet(parts.next()?)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

fn canonical_octet(text: &str) -> Option<u8> {
    let ok = !text.is_empty()
        && text.len() <= 3
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if ok {
        text.parse().ok()
    } else {
        None
    }
}

/// Serves DNS on `socket` until the task is aborted. Never returns on its own.
pub async fn serve_dns(socket: UdpSocket, resolver: DnsResolver) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "dns: receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let packet = &buf[..n];
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| resolver.answer(packet))).unwrap_or_else(|_| {
            tracing::error!(%peer, "dns: answering panicked; query dropped");
            None
        });
        let Some(reply) = reply else {
            tracing::debug!(%peer, len = n, "dns: malformed query dropped");
            continue;
        };
        if let Err(e) = socket.send_to(&reply, peer).await {
            tracing::debug!(%peer, error = %e, "dns: send failed");
        }
    }
}

/// The first question of a query.
struct Question<'a> {
    /// Lower case, dot-separated, no trailing dot; `None` when a label holds a dot or bytes
    /// that are not ASCII (such a name can match nothing).
    name: Option<String>,
    qtype: u16,
    qclass: u16,
    /// The question as it came: name, type and class.
    raw: &'a [u8],
}

fn be16(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

fn parse_question(packet: &[u8]) -> Option<Question<'_>> {
    let mut pos = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut clean = true;
    let mut wire_len = 1;
    loop {
        let len = *packet.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None; // compression (nothing to point back to) or reserved label types
        }
        wire_len += len + 1;
        if wire_len > MAX_NAME {
            return None;
        }
        let label = packet.get(pos..pos + len)?;
        pos += len;
        if label.iter().any(|&b| b == b'.' || !b.is_ascii_graphic()) {
            clean = false;
        }
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
    }
    let qtype = be16(packet, pos)?;
    let qclass = be16(packet, pos + 2)?;
    pos += 4;
    Some(Question { name: clean.then(|| labels.join(".")), qtype, qclass, raw: &packet[12..pos] })
}

/// A name in wire form (labels only; `name` is known to be clean and short).
fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// `d.c.b.a.in-addr.arpa` -> a.b.c.d
fn reverse_ip(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = rest.split('.');
    for octet in octets.iter_mut().rev() {
        *octet = canonical_octet(parts.next()?)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// One resource record of an answer, its owner name being the question's (pointer to 12).
struct Record {
    rtype: u16,
    rdata: Vec<u8>,
}

impl DnsResolver {
    /// The reply to one query packet, or `None` to drop it. Never panics.
    pub fn answer(&self, packet: &[u8]) -> Option<Vec<u8>> {
        if packet.len() < 12 {
            return None;
        }
        let id = be16(packet, 0)?;
        let flags = be16(packet, 2)?;
        let qdcount = be16(packet, 4)?;
        if flags & FLAG_QR != 0 {
            return None;
        }
        let opcode = (flags >> 11) & 0xF;
        let base = FLAG_QR | (opcode << 11) | (flags & FLAG_RD) | FLAG_RA;
        if opcode != 0 {
            return Some(header(id, base | RCODE_NOTIMP, 0, 0));
        }
        if qdcount == 0 {
            return None;
        }
        let q = parse_question(packet)?;
        let (flags, records) = self.resolve(&q);
        let mut out = header(id, base | flags, 1, records.len() as u16);
        out.extend_from_slice(q.raw);
        for r in records {
            out.extend_from_slice(&[0xC0, 0x0C]);
            out.extend_from_slice(&r.rtype.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&TTL.to_be_bytes());
            out.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
            out.extend_from_slice(&r.rdata);
        }
        Some(out)
    }

    /// Flags to add (`AA`, rcode) and the answers.
    fn resolve(&self, q: &Question) -> (u16, Vec<Record>) {
        let refused = (RCODE_REFUSED, Vec::new());
        let Some(name) = q.name.as_deref().filter(|n| !n.is_empty()) else { return refused };
        if q.qclass != CLASS_IN && q.qclass != CLASS_ANY {
            return refused;
        }
        if let Some(ip) = reverse_ip(name) {
            let candidate = format!("ip-{}.{}", ip.to_string().replace('.', "-"), private_dns_suffix(&self.region));
            if (self.lookup)(&candidate) != Some(ip) {
                return refused;
            }
            let records = match q.qtype {
                TYPE_PTR | TYPE_ANY => vec![Record { rtype: TYPE_PTR, rdata: encode_name(&candidate) }],
                _ => Vec::new(),
            };
            return (FLAG_AA, records);
        }
        let suffix = private_dns_suffix(&self.region);
        if name == suffix {
            return (FLAG_AA, Vec::new());
        }
        // Only names under the suffix reach the lookup, so a lookup that reads just the
        // `ip-a-b-c-d` label cannot answer for other domains.
        if !name.strip_suffix(&suffix).is_some_and(|host| host.ends_with('.')) {
            return refused;
        }
        match (self.lookup)(name) {
            Some(ip) => {
                let records = match q.qtype {
                    TYPE_A | TYPE_ANY => vec![Record { rtype: TYPE_A, rdata: ip.octets().to_vec() }],
                    _ => Vec::new(),
                };
                (FLAG_AA, records)
            }
            None => (FLAG_AA | RCODE_NXDOMAIN, Vec::new()),
        }
    }
}

fn header(id: u16, flags: u16, qdcount: u16, ancount: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for v in [id, flags, qdcount, ancount, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE_AAAA: u16 = 28;
    const TYPE_OPT: u16 = 41;

    fn resolver(region: &str) -> DnsResolver {
        let region_owned = region.to_string();
        DnsResolver {
            region: region.to_string(),
            lookup: Arc::new(move |name: &str| {
                // Two instances: 10.0.1.5 and 10.0.2.9.
                let ip = ip_from_private_name(name, &region_owned)?;
                [Ipv4Addr::new(10, 0, 1, 5), Ipv4Addr::new(10, 0, 2, 9)].contains(&ip).then_some(ip)
            }),
        }
    }

    fn query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut p = Vec::new();
        for v in [id, FLAG_RD, 1, 0, 0, edns as u16] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        for label in name.split('.').filter(|l| !l.is_empty()) {
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&CLASS_IN.to_be_bytes());
        if edns {
            // Root name, OPT, UDP size 4096, ext rcode/flags 0 (DO bit set), no options.
            p.push(0);
            p.extend_from_slice(&TYPE_OPT.to_be_bytes());
            p.extend_from_slice(&4096u16.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]);
        }
        p
    }

    struct Reply {
        id: u16,
        flags: u16,
        rcode: u16,
        qd: u16,
        an: u16,
        ar: u16,
        question: Vec<u8>,
        answers: Vec<(u16, u32, Vec<u8>)>,
    }

    fn parse_reply(r: &[u8], question_len: usize) -> Reply {
        let g = |at: usize| u16::from_be_bytes([r[at], r[at + 1]]);
        let question = r[12..12 + question_len].to_vec();
        let mut pos = 12 + question_len;
        let mut answers = Vec::new();
        for _ in 0..g(6) {
            assert_eq!(&r[pos..pos + 2], &[0xC0, 0x0C], "answer name points at the question");
            let rtype = g(pos + 2);
            assert_eq!(g(pos + 4), CLASS_IN);
            let ttl = u32::from_be_bytes([r[pos + 6], r[pos + 7], r[pos + 8], r[pos + 9]]);
            let len = g(pos + 10) as usize;
            answers.push((rtype, ttl, r[pos + 12..pos + 12 + len].to_vec()));
            pos += 12 + len;
        }
        assert_eq!(pos, r.len(), "no trailing bytes");
        Reply { id: g(0), flags: g(2), rcode: g(2) & 0xF, qd: g(4), an: g(6), ar: g(10), question, answers }
    }

    fn ask(res: &DnsResolver, id: u16, name: &str, qtype: u16) -> Reply {
        let q = query(id, name, qtype, false);
        let qlen = q.len() - 12;
        let r = res.answer(&q).expect("a reply");
        let reply = parse_reply(&r, qlen);
        assert_eq!(reply.question, q[12..].to_vec(), "question copied");
        reply
    }

    #[test]
    fn names_and_suffixes() {
        assert_eq!(private_dns_suffix("us-east-1"), "ec2.internal");
        assert_eq!(private_dns_suffix("eu-west-1"), "eu-west-1.compute.internal");
        assert_eq!(ip_from_private_name("ip-10-0-1-5.ec2.internal", "us-east-1"), Some(Ipv4Addr::new(10, 0, 1, 5)));
        assert_eq!(ip_from_private_name("IP-10-0-1-5.EC2.Internal.", "us-east-1"), Some(Ipv4Addr::new(10, 0, 1, 5)));
        assert_eq!(
            ip_from_private_name("ip-172-31-255-0.eu-west-1.compute.internal", "eu-west-1"),
            Some(Ipv4Addr::new(172, 31, 255, 0))
        );
        for bad in [
            "ip-10-0-1-5.eu-west-1.compute.internal",
            "ip-10-0-1.ec2.internal",
            "ip-10-0-1-5-6.ec2.internal",
            "ip-10-0-01-5.ec2.internal",
            "ip-10-0-1-256.ec2.internal",
            "ip-10-0-1-+5.ec2.internal",
            "ip-10-0-1-5xec2.internal",
            "x.ip-10-0-1-5.ec2.internal",
            "10-0-1-5.ec2.internal",
            "ec2.internal",
            "",
        ] {
            assert_eq!(ip_from_private_name(bad, "us-east-1"), None, "{bad}");
        }
    }

    #[test]
    fn answers_known_names() {
        let res = resolver("us-east-1");
        let r = ask(&res, 0x1234, "ip-10-0-1-5.ec2.internal", TYPE_A);
        assert_eq!(r.id, 0x1234);
        assert_eq!(r.flags, FLAG_QR | FLAG_AA | FLAG_RD | FLAG_RA);
        assert_eq!((r.rcode, r.qd, r.an, r.ar), (0, 1, 1, 0));
        assert_eq!(r.answers, vec![(TYPE_A, 60, vec![10, 0, 1, 5])]);

        // Case-insensitive; the question keeps its case.
        let r = ask(&res, 7, "Ip-10-0-2-9.EC2.internal", TYPE_A);
        assert_eq!(r.answers, vec![(TYPE_A, 60, vec![10, 0, 2, 9])]);
        // Trailing dot in the presentation form makes no difference on the wire.
        let r = ask(&res, 8, "ip-10-0-2-9.ec2.internal.", TYPE_ANY);
        assert_eq!(r.answers, vec![(TYPE_A, 60, vec![10, 0, 2, 9])]);

        // Other regions use their own suffix.
        let res = resolver("eu-west-1");
        let r = ask(&res, 9, "ip-10-0-1-5.eu-west-1.compute.internal", TYPE_A);
        assert_eq!(r.answers, vec![(TYPE_A, 60, vec![10, 0, 1, 5])]);
        let r = ask(&res, 10, "ip-10-0-1-5.ec2.internal", TYPE_A);
        assert_eq!(r.rcode, RCODE_REFUSED);
    }

    #[test]
    fn nodata_nxdomain_refused() {
        let res = resolver("us-east-1");
        let r = ask(&res, 1, "ip-10-0-1-5.ec2.internal", TYPE_AAAA);
        assert_eq!((r.rcode, r.an), (0, 0));
        assert_ne!(r.flags & FLAG_AA, 0);

        for name in ["ip-10-0-1-6.ec2.internal", "nothing.ec2.internal", "a.b.ec2.internal"] {
            let r = ask(&res, 2, name, TYPE_A);
            assert_eq!((r.rcode, r.an, r.qd), (RCODE_NXDOMAIN, 0, 1), "{name}");
            assert_ne!(r.flags & FLAG_AA, 0);
        }
        let r = ask(&res, 3, "ec2.internal", TYPE_A);
        assert_eq!((r.rcode, r.an), (0, 0));

        for name in ["example.com", "xec2.internal", "internal", "amazonaws.com"] {
            let r = ask(&res, 4, name, TYPE_A);
            assert_eq!((r.rcode, r.an, r.qd), (RCODE_REFUSED, 0, 1), "{name}");
            assert_eq!(r.flags & FLAG_AA, 0);
            assert_eq!(r.flags & (FLAG_QR | FLAG_RD | FLAG_RA), FLAG_QR | FLAG_RD | FLAG_RA);
        }
        // The root name.
        let r = ask(&res, 5, "", TYPE_A);
        assert_eq!(r.rcode, RCODE_REFUSED);
    }

    #[test]
    fn lookup_sees_private_names_only() {
        // A lookup that reads only the first label must not make other domains resolve.
        let res = DnsResolver {
            region: "us-east-1".to_string(),
            lookup: Arc::new(|name: &str| {
                assert!(name.ends_with(".ec2.internal"), "asked about {name}");
                name.split('.').next()?.strip_prefix("ip-")?.replace('-', ".").parse().ok()
            }),
        };
        for name in ["ip-10-0-1-5.example.com", "ip-10-0-1-5", "ip-10-0-1-5.ec2.internal.evil.com", "ip-10-0-1-5.eu-west-1.compute.internal"] {
            assert_eq!(ask(&res, 1, name, TYPE_A).rcode, RCODE_REFUSED, "{name}");
        }
        assert_eq!(ask(&res, 2, "ip-10-0-1-5.ec2.internal", TYPE_A).answers, vec![(TYPE_A, 60, vec![10, 0, 1, 5])]);
    }

    #[test]
    fn reverse_names() {
        let res = resolver("us-east-1");
        let r = ask(&res, 1, "5.1.0.10.in-addr.arpa", TYPE_PTR);
        assert_eq!(r.rcode, 0);
        assert_eq!(r.answers, vec![(TYPE_PTR, 60, encode_name("ip-10-0-1-5.ec2.internal"))]);
        let r = ask(&res, 2, "6.1.0.10.in-addr.arpa", TYPE_PTR);
        assert_eq!(r.rcode, RCODE_REFUSED);
        let r = ask(&res, 3, "5.1.0.10.in-addr.arpa", TYPE_A);
        assert_eq!((r.rcode, r.an), (0, 0));
        assert_eq!(reverse_ip("5.1.0.10.in-addr.arpa"), Some(Ipv4Addr::new(10, 0, 1, 5)));
        assert_eq!(reverse_ip("1.0.10.in-addr.arpa"), None);
    }

    #[test]
    fn edns_is_ignored() {
        let res = resolver("us-east-1");
        let q = query(0xBEEF, "ip-10-0-1-5.ec2.internal", TYPE_A, true);
        let qlen = 1 + "ip-10-0-1-5.ec2.internal".len() + 1 + 4;
        let r = parse_reply(&res.answer(&q).unwrap(), qlen);
        assert_eq!((r.id, r.an, r.ar), (0xBEEF, 1, 0));
    }

    #[test]
    fn other_opcodes_and_classes() {
        let res = resolver("us-east-1");
        let mut q = query(42, "ip-10-0-1-5.ec2.internal", TYPE_A, false);
        q[2] |= 2 << 3; // opcode 2 (STATUS)
        let r = res.answer(&q).unwrap();
        assert_eq!(r.len(), 12);
        assert_eq!(u16::from_be_bytes([r[2], r[3]]) & 0xF, RCODE_NOTIMP);
        assert_eq!((u16::from_be_bytes([r[2], r[3]]) >> 11) & 0xF, 2);

        let mut q = query(43, "version.bind", 16, false);
        let n = q.len();
        q[n - 1] = 3; // class CH
        let r = parse_reply(&res.answer(&q).unwrap(), n - 12);
        assert_eq!(r.rcode, RCODE_REFUSED);
    }

    #[test]
    fn malformed_packets_are_dropped() {
        let res = resolver("us-east-1");
        let good = query(1, "ip-10-0-1-5.ec2.internal", TYPE_A, true);
        // Every truncation of the question is dropped (the EDNS tail is not needed).
        let question_end = good.len() - 11;
        for n in 0..question_end {
            assert!(res.answer(&good[..n]).is_none(), "prefix of {n} bytes");
        }
        assert!(res.answer(&good[..question_end]).is_some());
        // A response, not a query.
        let mut response = good.clone();
        response[2] |= 0x80;
        assert!(res.answer(&response).is_none());
        // No question.
        let mut empty = good.clone();
        empty[5] = 0;
        assert!(res.answer(&empty).is_none());
        // A compression pointer in the question.
        let mut pointer = good[..12].to_vec();
        pointer.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        assert!(res.answer(&pointer).is_none());
        // A name over 255 bytes.
        let long = vec!["a".repeat(63); 5].join(".");
        assert!(res.answer(&query(1, &long, TYPE_A, false)).is_none());
        // Dots and binary inside a label match nothing.
        let mut dotted = good[..12].to_vec();
        dotted.push(24);
        dotted.extend_from_slice(b"ip-10-0-1-5.ec2.internal");
        dotted.extend_from_slice(&[0, 0, 1, 0, 1]);
        let r = parse_reply(&res.answer(&dotted).unwrap(), dotted.len() - 12);
        assert_eq!(r.rcode, RCODE_REFUSED);
        // Pseudo-random garbage never panics.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..2000usize {
            let mut p = Vec::with_capacity(len % 300);
            for _ in 0..len % 300 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                p.push(seed as u8);
            }
            if len % 3 == 0 && p.len() > 12 {
                p[2] &= 0x07; // a query with opcode 0, so parsing goes on to the question
                p[4] = 0;
                p[5] = 1;
            }
            let _ = res.answer(&p);
        }
    }

    #[tokio::test]
    async fn serves_over_udp() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let server = tokio::spawn(serve_dns(socket, resolver("us-east-1")));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(addr).await.unwrap();
        let mut buf = [0u8; 1500];

        // Garbage gets no reply...
        client.send(&[1, 2, 3]).await.unwrap();
        let silent = tokio::time::timeout(Duration::from_millis(200), client.recv(&mut buf)).await;
        assert!(silent.is_err(), "no reply to garbage");

        // ...and the server goes on answering.
        for (id, name, want) in [
            (11u16, "ip-10-0-1-5.ec2.internal", Some([10, 0, 1, 5])),
            (12, "ip-10-0-9-9.ec2.internal", None),
        ] {
            let q = query(id, name, TYPE_A, true);
            client.send(&q).await.unwrap();
            let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf)).await.unwrap().unwrap();
            let r = parse_reply(&buf[..n], 1 + name.len() + 1 + 4);
            assert_eq!(r.id, id);
            match want {
                Some(ip) => assert_eq!(r.answers, vec![(TYPE_A, 60, ip.to_vec())]),
                None => assert_eq!(r.rcode, RCODE_NXDOMAIN),
            }
        }

        // With `dig`, when this machine has it.
        let port = addr.port().to_string();
        let dig = tokio::task::spawn_blocking(move || {
            std::process::Command::new("dig")
                .args(["+short", "+tries=1", "+time=2", "-p", &port, "@127.0.0.1", "ip-10-0-2-9.ec2.internal", "A"])
                .output()
        });
        if let Ok(out) = dig.await.unwrap() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10.0.2.9");
        }
        server.abort();
    }
}
