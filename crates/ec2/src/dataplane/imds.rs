//! The instance metadata service (IMDS) of one VPC, at `169.254.169.254:80`, as AWS's.
//!
//! Requests are told apart by source address: the lookup turns the peer's private IP into the
//! stored instance document (the EC2 `Instance` shape plus `_fb`), read afresh for every
//! request, so `ModifyInstanceMetadataOptions`, tags and user data apply at once.
//!
//! # Sessions (IMDSv2)
//!
//! - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: N` (1..=21600)
//!   answers a random token (text/plain) and echoes the TTL header. A missing or bad TTL is
//!   400; a request carrying `X-Forwarded-For` is 403 (AWS refuses tokens through proxies);
//!   other methods on that path are 405. The token response is sent with the socket's IP TTL
//!   set to the instance's `HttpPutResponseHopLimit` (default 1), as AWS does, so a container
//!   one routed hop behind the instance cannot get a token unless the limit allows it.
//! - Tokens are bound to the source address and the instance id (a new instance reusing an
//!   address cannot use its predecessor's tokens) and expire after their TTL. At most 1000
//!   live tokens per instance are kept; beyond that the one expiring first is dropped. Tokens
//!   live in memory: a Fogbank restart invalidates them, as an instance stop does on AWS.
//! - `X-aws-ec2-metadata-token` on a GET must name a live token of this instance, whatever
//!   `HttpTokens` says, else 401. Without the header, `HttpTokens: required` is 401 and
//!   `optional` (IMDSv1) is served. Valid-token answers carry the token's remaining TTL in
//!   `X-aws-ec2-metadata-token-ttl-seconds`, as AWS's do.
//!
//! # Who gets answers
//!
//! - A source address without an instance: 404, for every request.
//! - `MetadataOptions.HttpEndpoint: disabled`: 403 Forbidden, for every request including the
//!   token PUT (what AWS documents for a turned-off IMDS). The connection stays open.
//! - Methods other than GET and HEAD (PUT on the token path aside): 405.
//!
//! # Tree
//!
//! `/` lists the versions; `/<version>/` (`latest` or a dated version, all served the same)
//! lists `dynamic`, `meta-data` and `user-data` (when there is user data; no slashes, as on
//! AWS). Directories list their entries one per line, sub-directories with a trailing `/`, no
//! final newline. Values are text/plain, user data application/octet-stream. A trailing slash
//! or doubled slashes do not matter. Unknown paths are 404 with AWS's XHTML error page (text/html).
//!
//! `meta-data/`: `ami-id`, `ami-launch-index`, `ami-manifest-path`, `block-device-mapping/`
//! (`ami`, `root`), `events/maintenance/{history,scheduled}` (`[]`), `hostname`,
//! `instance-action`, `instance-id`, `instance-life-cycle`, `instance-type`, `local-hostname`,
//! `local-ipv4`, `mac`, `network/interfaces/macs/<mac>/` (`device-number`, `interface-id`,
//! `ipv4-associations/<public-ip>`, `local-hostname`, `local-ipv4s`, `mac`,
//! `network-card-index`, `owner-id`, `public-hostname`, `public-ipv4s`, `security-group-ids`,
//! `security-groups`, `subnet-id`, `vpc-id`, and the CIDR entries below), `placement/`
//! (`availability-zone`, `availability-zone-id` for Fogbank's regions, `region`), `profile`,
//! `public-hostname` and `public-ipv4` (only with a public IP), `public-keys/` (see below),
//! `reservation-id`, `security-groups` (names), `services/` (`domain`, `partition`) and
//! `tags/instance/` (only with `InstanceMetadataTags: enabled`; keys containing `/` are left
//! out, as they cannot be addressed). `dynamic/instance-identity/document` is the identity
//! document (unsigned: no `pkcs7`, `signature` or `rsa2048`). Not served: `iam/` (no instance
//! profiles yet), `spot/`, IPv6 entries.
//!
//! Optional document members the caller may add (in `_fb`) for entries the stored instance
//! lacks: `_fb.PublicKey` (the key pair's OpenSSH line: `public-keys/0/openssh-key`, listed as
//! `0=<KeyName>` when `KeyName` is set too), `_fb.SubnetCidrBlock` (`subnet-ipv4-cidr-block`)
//! and `_fb.VpcCidrBlocks` (array, primary first: `vpc-ipv4-cidr-block` and
//! `vpc-ipv4-cidr-blocks`).
//!
//! Every request is logged at debug level. Handling never panics on input; a bug answers 500.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::dns::private_dns_suffix;

/// Looks an instance up by the private IP a request came from, within one VPC: the stored
/// instance document, or `None`.
pub type InstanceLookup = Arc<dyn Fn(Ipv4Addr) -> Option<Value> + Send + Sync>;

const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// Longest token lifetime (6 hours).
const MAX_TTL: u64 = 21600;
/// Live tokens kept per instance.
const MAX_TOKENS_PER_INSTANCE: usize = 1000;
/// All tokens are swept for expired ones every this many issued tokens.
const SWEEP_EVERY: u64 = 256;
const TEXT: &str = "text/plain";
const OCTETS: &str = "application/octet-stream";

/// The metadata versions AWS lists at `/`; all are served like `latest`.
const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
    "latest",
];

/// Serves the metadata service on `listener` until the task is aborted. Never returns on its
/// own. `region` is the VPC's (for `placement/region`, the identity document and host names).
pub async fn serve_imds(listener: TcpListener, lookup: InstanceLookup, region: String) {
    let imds = Arc::new(Imds { lookup, region, tokens: Mutex::new(HashMap::new()), issued: AtomicU64::new(0) });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "imds: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let ip = match peer.ip() {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(ip) => ip,
                None => {
                    tracing::debug!(%peer, "imds: IPv6 peer refused");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // A second descriptor of the same socket, to set the IP TTL of token responses while
        // hyper owns the stream.
        let socket = stream.as_fd().try_clone_to_owned().ok().map(std::net::TcpStream::from);
        let default_ttl = socket.as_ref().and_then(|s| s.ttl().ok()).unwrap_or(64);
        let conn = Arc::new(Conn { ip, socket, default_ttl, lowered: AtomicBool::new(false) });
        let imds = imds.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let reply = imds.serve(&conn, &req);
                async move { Ok::<_, Infallible>(reply) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "imds: connection ended");
            }
        });
    }
}

struct Token {
    instance_id: String,
    expires: Instant,
}

struct Imds {
    lookup: InstanceLookup,
    region: String,
    /// Live tokens by source address, then by token.
    tokens: Mutex<HashMap<Ipv4Addr, HashMap<String, Token>>>,
    issued: AtomicU64,
}

/// One accepted connection.
struct Conn {
    ip: Ipv4Addr,
    /// The connection's socket (a duplicate descriptor), for its IP TTL.
    socket: Option<std::net::TcpStream>,
    default_ttl: u32,
    /// Whether the TTL is lowered to a hop limit now.
    lowered: AtomicBool,
}

impl Conn {
    /// Sets the IP TTL for the response about to be written: the hop limit for token
    /// responses, the default again for anything after.
    fn set_hop_limit(&self, hop_limit: Option<u32>) {
        let Some(socket) = &self.socket else { return };
        let result = match hop_limit {
            Some(h) => {
                self.lowered.store(true, Ordering::Relaxed);
                socket.set_ttl(h)
            }
            None if self.lowered.swap(false, Ordering::Relaxed) => socket.set_ttl(self.default_ttl),
            None => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!(ip = %self.ip, error = %e, "imds: cannot set the IP TTL");
        }
    }
}

/// An answer before it becomes a hyper response.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// IP TTL for this response (token responses only).
    hop_limit: Option<u32>,
}

impl Reply {
    fn ok(body: Vec<u8>, content_type: &'static str) -> Reply {
        Reply { status: 200, content_type, body, headers: Vec::new(), hop_limit: None }
    }

    /// AWS's XHTML error page.
    fn error(status: u16) -> Reply {
        let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
             <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
             \t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
             <html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n \
             <head>\n  <title>{status} - {reason}</title>\n </head>\n \
             <body>\n  <h1>{status} - {reason}</h1>\n </body>\n</html>\n"
        );
        Reply { status, content_type: "text/html", body: body.into_bytes(), headers: Vec::new(), hop_limit: None }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(Bytes::from(self.body)));
        *resp.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = resp.headers_mut();
        headers.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(hyper::header::SERVER, HeaderValue::from_static("EC2ws"));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        resp
    }
}

impl Imds {
    fn serve(&self, conn: &Conn, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method();
        let path = req.uri().path();
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.respond(conn.ip, method, path, req.headers())))
            .unwrap_or_else(|_| {
                tracing::error!(ip = %conn.ip, %method, path, "imds: request handler panicked; answered 500");
                Reply::error(500)
            });
        tracing::debug!(ip = %conn.ip, %method, path, status = reply.status, "imds request");
        conn.set_hop_limit(reply.hop_limit);
        reply.into_response()
    }

    fn respond(&self, ip: Ipv4Addr, method: &Method, path: &str, headers: &HeaderMap) -> Reply {
        let Some(doc) = (self.lookup)(ip) else { return Reply::error(404) };
        let option = |name: &str| doc.pointer(&format!("/MetadataOptions/{name}")).and_then(Value::as_str);
        if option("HttpEndpoint") == Some("disabled") {
            return Reply::error(403);
        }
        let instance_id = doc.get("InstanceId").and_then(Value::as_str).unwrap_or_default();
        let segments = segments(path);
        if let [version, api, token] = segments.as_slice() {
            if VERSIONS.contains(&version.as_str()) && api == "api" && token == "token" {
                if method != Method::PUT {
                    return Reply::error(405);
                }
                return self.issue_token(ip, instance_id, &doc, headers);
            }
        }
        if method != Method::GET && method != Method::HEAD {
            return Reply::error(405);
        }
        let remaining = match headers.get(TOKEN_HEADER) {
            Some(token) => match self.check_token(ip, instance_id, token.to_str().unwrap_or_default()) {
                Some(remaining) => Some(remaining),
                None => return Reply::error(401),
            },
            None if option("HttpTokens") == Some("required") => return Reply::error(401),
            None => None,
        };
        let mut reply = match segments.split_first() {
            None => Reply::ok(VERSIONS.join("\n").into_bytes(), TEXT),
            Some((version, rest)) if VERSIONS.contains(&version.as_str()) => {
                let tree = version_tree(&doc, &self.region);
                match tree.find(rest) {
                    Some(Node::Leaf(body, content_type)) => Reply::ok(body.clone(), content_type),
                    Some(node) => Reply::ok(node.listing().into_bytes(), TEXT),
                    None => Reply::error(404),
                }
            }
            Some(_) => Reply::error(404),
        };
        if let Some(remaining) = remaining {
            reply.headers.push((TTL_HEADER, remaining.to_string()));
        }
        reply
    }

    fn issue_token(&self, ip: Ipv4Addr, instance_id: &str, doc: &Value, headers: &HeaderMap) -> Reply {
        if headers.contains_key("x-forwarded-for") {
            return Reply::error(403);
        }
        let ttl = headers
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 5 && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|t| (1..=MAX_TTL).contains(t));
        let Some(ttl) = ttl else { return Reply::error(400) };
        let mut raw = [0u8; 32];
        if OsRng.try_fill_bytes(&mut raw).is_err() {
            return Reply::error(500);
        }
        let token = base64::engine::general_purpose::STANDARD.encode(raw);
        let now = Instant::now();
        {
            let mut all = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            if self.issued.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
                all.retain(|_, mine| {
                    mine.retain(|_, t| t.expires > now);
                    !mine.is_empty()
                });
            }
            let mine = all.entry(ip).or_default();
            mine.retain(|_, t| t.expires > now);
            if mine.len() >= MAX_TOKENS_PER_INSTANCE {
                let first = mine.iter().min_by_key(|(_, t)| t.expires).map(|(k, _)| k.clone());
                if let Some(first) = first {
                    mine.remove(&first);
                }
            }
            mine.insert(token.clone(), Token { instance_id: instance_id.to_string(), expires: now + Duration::from_secs(ttl) });
        }
        let hop_limit = doc.pointer("/MetadataOptions/HttpPutResponseHopLimit").and_then(Value::as_i64).unwrap_or(1).clamp(1, 64);
        let mut reply = Reply::ok(token.into_bytes(), TEXT);
        reply.headers.push((TTL_HEADER, ttl.to_string()));
        reply.hop_limit = Some(hop_limit as u32);
        reply
    }

    /// The seconds a live token of this instance has left, or `None` for an unknown, expired or
    /// foreign token.
    fn check_token(&self, ip: Ipv4Addr, instance_id: &str, token: &str) -> Option<u64> {
        let now = Instant::now();
        let all = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let t = all.get(&ip)?.get(token)?;
        if t.instance_id != instance_id || t.expires <= now {
            return None;
        }
        let left = t.expires - now;
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }
}

/// The path's segments, percent-decoded; empty ones (doubled or trailing slashes) dropped.
fn segments(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A node of the metadata tree.
enum Node {
    Leaf(Vec<u8>, &'static str),
    Dir(Vec<(String, Node)>),
    /// A directory whose listing is not its entries' names (`public-keys/`: `0=name`).
    Listed(Vec<(String, Node)>, String),
}

impl Node {
    fn find(&self, path: &[String]) -> Option<&Node> {
        let Some((first, rest)) = path.split_first() else { return Some(self) };
        match self {
            Node::Leaf(..) => None,
            Node::Dir(entries) | Node::Listed(entries, _) => {
                entries.iter().find(|(name, _)| name == first).and_then(|(_, node)| node.find(rest))
            }
        }
    }

    fn listing(&self) -> String {
        match self {
            Node::Leaf(..) => String::new(),
            Node::Listed(_, listing) => listing.clone(),
            Node::Dir(entries) => entries
                .iter()
                .map(|(name, node)| match node {
                    Node::Leaf(..) => name.clone(),
                    _ => format!("{name}/"),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

fn leaf(text: impl Into<String>) -> Node {
    Node::Leaf(text.into().into_bytes(), TEXT)
}

fn dir(entries: Vec<(&str, Node)>) -> Node {
    Node::Dir(entries.into_iter().map(|(name, node)| (name.to_string(), node)).collect())
}

/// A non-empty string member.
fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn strings<'a>(list: Option<&'a Value>, member: &str) -> Vec<&'a str> {
    list.and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|i| i.get(member).and_then(Value::as_str)).collect())
        .unwrap_or_default()
}

/// `/<version>/`.
fn version_tree(doc: &Value, region: &str) -> Node {
    let mut entries = vec![
        ("dynamic", dir(vec![("instance-identity", dir(vec![("document", leaf(identity_document(doc, region)))]))])),
        ("meta-data", meta_data(doc, region)),
    ];
    if let Some(data) = user_data(doc) {
        entries.push(("user-data", Node::Leaf(data, OCTETS)));
    }
    // AWS lists the categories of a version without slashes.
    let listing = entries.iter().map(|(name, _)| *name).collect::<Vec<_>>().join("\n");
    Node::Listed(entries.into_iter().map(|(name, node)| (name.to_string(), node)).collect(), listing)
}

/// The decoded user data, if there is any.
fn user_data(doc: &Value) -> Option<Vec<u8>> {
    let encoded = text(doc, "/_fb/UserData")?;
    let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let data = base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_else(|_| encoded.as_bytes().to_vec());
    (!data.is_empty()).then_some(data)
}

fn private_name(doc: &Value, region: &str) -> String {
    match text(doc, "/PrivateDnsName") {
        Some(name) => name.to_string(),
        None => {
            let ip = text(doc, "/PrivateIpAddress").unwrap_or_default();
            format!("ip-{}.{}", ip.replace('.', "-"), private_dns_suffix(region))
        }
    }
}

fn meta_data(doc: &Value, region: &str) -> Node {
    let s = |pointer: &str| text(doc, pointer).unwrap_or_default().to_string();
    let private_dns = private_name(doc, region);
    let root_device = text(doc, "/RootDeviceName").unwrap_or("/dev/xvda");
    let zone = s("/Placement/AvailabilityZone");
    let zone_id = fogbank_core::regions::zones(region).into_iter().find(|(name, _)| *name == zone).map(|(_, id)| id);
    let mut enis: Vec<&Value> = doc
        .get("NetworkInterfaces")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter(|n| text(n, "/MacAddress").is_some()).collect())
        .unwrap_or_default();
    enis.sort_by_key(|n| n.pointer("/Attachment/DeviceIndex").and_then(Value::as_i64).unwrap_or(0));
    let group_names = strings(doc.get("SecurityGroups"), "GroupName");

    let mut md: Vec<(&str, Node)> = vec![
        ("ami-id", leaf(s("/ImageId"))),
        ("ami-launch-index", leaf(doc.get("AmiLaunchIndex").and_then(Value::as_i64).unwrap_or(0).to_string())),
        ("ami-manifest-path", leaf("(unknown)")),
        ("block-device-mapping", dir(vec![("ami", leaf(root_device)), ("root", leaf(root_device))])),
        ("events", dir(vec![("maintenance", dir(vec![("history", leaf("[]")), ("scheduled", leaf("[]"))]))])),
        ("hostname", leaf(private_dns.clone())),
        ("instance-action", leaf("none")),
        ("instance-id", leaf(s("/InstanceId"))),
        ("instance-life-cycle", leaf(text(doc, "/InstanceLifecycle").unwrap_or("on-demand"))),
        ("instance-type", leaf(s("/InstanceType"))),
        ("local-hostname", leaf(private_dns.clone())),
        ("local-ipv4", leaf(s("/PrivateIpAddress"))),
    ];
    if let Some(mac) = enis.first().and_then(|n| text(n, "/MacAddress")) {
        md.push(("mac", leaf(mac)));
    }
    let macs = enis.iter().filter_map(|n| Some((text(n, "/MacAddress")?.to_string(), interface(doc, n, region)))).collect();
    md.push(("network", dir(vec![("interfaces", dir(vec![("macs", Node::Dir(macs))]))])));
    let mut placement = vec![("availability-zone", leaf(zone))];
    if let Some(id) = zone_id {
        placement.push(("availability-zone-id", leaf(id)));
    }
    placement.push(("region", leaf(region)));
    md.push(("placement", dir(placement)));
    md.push(("profile", leaf("default-hvm")));
    if let Some(ip) = text(doc, "/PublicIpAddress") {
        if let Some(name) = text(doc, "/PublicDnsName") {
            md.push(("public-hostname", leaf(name)));
        }
        md.push(("public-ipv4", leaf(ip)));
    }
    if let (Some(key_name), Some(key)) = (text(doc, "/KeyName"), text(doc, "/_fb/PublicKey")) {
        let zero = dir(vec![("openssh-key", leaf(key))]);
        md.push(("public-keys", Node::Listed(vec![("0".to_string(), zero)], format!("0={key_name}"))));
    }
    md.push(("reservation-id", leaf(s("/_fb/ReservationId"))));
    md.push(("security-groups", leaf(group_names.join("\n"))));
    md.push(("services", dir(vec![("domain", leaf("amazonaws.com")), ("partition", leaf("aws"))])));
    if text(doc, "/MetadataOptions/InstanceMetadataTags") == Some("enabled") {
        let tags = doc
            .get("Tags")
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| {
                        let key = t.get("Key").and_then(Value::as_str).filter(|k| !k.is_empty() && !k.contains('/'))?;
                        let value = t.get("Value").and_then(Value::as_str).unwrap_or_default();
                        Some((key.to_string(), leaf(value)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        md.push(("tags", dir(vec![("instance", Node::Dir(tags))])));
    }
    dir(md)
}

/// `network/interfaces/macs/<mac>/`.
fn interface(doc: &Value, eni: &Value, region: &str) -> Node {
    let s = |pointer: &str| text(eni, pointer).unwrap_or_default().to_string();
    let private_ip = s("/PrivateIpAddress");
    let mut private_ips = strings(eni.get("PrivateIpAddresses"), "PrivateIpAddress");
    if private_ips.is_empty() && !private_ip.is_empty() {
        private_ips.push(&private_ip);
    }
    let public_ip = text(eni, "/Association/PublicIp");
    let public_dns = text(eni, "/Association/PublicDnsName");
    let mut groups = eni.get("Groups").filter(|g| g.as_array().is_some_and(|a| !a.is_empty()));
    if groups.is_none() {
        groups = doc.get("SecurityGroups");
    }
    let owner = text(eni, "/OwnerId").or_else(|| text(doc, "/_fb/OwnerId")).unwrap_or_default();
    let local_name = text(eni, "/PrivateDnsName").map(str::to_string).unwrap_or_else(|| private_name(doc, region));
    let number = |pointer: &str| eni.pointer(pointer).and_then(Value::as_i64).unwrap_or(0).to_string();

    let mut entries = vec![
        ("device-number", leaf(number("/Attachment/DeviceIndex"))),
        ("interface-id", leaf(s("/NetworkInterfaceId"))),
    ];
    if let Some(ip) = public_ip {
        entries.push(("ipv4-associations", Node::Dir(vec![(ip.to_string(), leaf(private_ip.clone()))])));
    }
    entries.push(("local-hostname", leaf(local_name)));
    entries.push(("local-ipv4s", leaf(private_ips.join("\n"))));
    entries.push(("mac", leaf(s("/MacAddress"))));
    entries.push(("network-card-index", leaf(number("/Attachment/NetworkCardIndex"))));
    entries.push(("owner-id", leaf(owner)));
    if let Some(ip) = public_ip {
        if let Some(name) = public_dns {
            entries.push(("public-hostname", leaf(name)));
        }
        entries.push(("public-ipv4s", leaf(ip)));
    }
    entries.push(("security-group-ids", leaf(strings(groups, "GroupId").join("\n"))));
    entries.push(("security-groups", leaf(strings(groups, "GroupName").join("\n"))));
    entries.push(("subnet-id", leaf(s("/SubnetId"))));
    if let Some(cidr) = text(doc, "/_fb/SubnetCidrBlock") {
        entries.push(("subnet-ipv4-cidr-block", leaf(cidr)));
    }
    entries.push(("vpc-id", leaf(s("/VpcId"))));
    let vpc_cidrs: Vec<&str> = doc
        .pointer("/_fb/VpcCidrBlocks")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(primary) = vpc_cidrs.first() {
        entries.push(("vpc-ipv4-cidr-block", leaf(*primary)));
        entries.push(("vpc-ipv4-cidr-blocks", leaf(vpc_cidrs.join("\n"))));
    }
    dir(entries)
}

/// `dynamic/instance-identity/document`, laid out as AWS's (`"key" : value`, two-space
/// indent).
fn identity_document(doc: &Value, region: &str) -> String {
    let s = |pointer: &str| text(doc, pointer).map(|t| json!(t)).unwrap_or(Value::Null);
    let account = text(doc, "/_fb/OwnerId").or_else(|| text(doc, "/NetworkInterfaces/0/OwnerId"));
    let pending = text(doc, "/LaunchTime").map(|t| match t.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => t.to_string(),
    });
    let fields: Vec<(&str, Value)> = vec![
        ("accountId", json!(account)),
        ("architecture", json!(text(doc, "/Architecture").unwrap_or("x86_64"))),
        ("availabilityZone", s("/Placement/AvailabilityZone")),
        ("billingProducts", Value::Null),
        ("devpayProductCodes", Value::Null),
        ("marketplaceProductCodes", Value::Null),
        ("imageId", s("/ImageId")),
        ("instanceId", s("/InstanceId")),
        ("instanceType", s("/InstanceType")),
        ("kernelId", Value::Null),
        ("pendingTime", json!(pending)),
        ("privateIp", s("/PrivateIpAddress")),
        ("ramdiskId", Value::Null),
        ("region", json!(region)),
        ("version", json!("2017-09-30")),
    ];
    let lines: Vec<String> = fields.iter().map(|(k, v)| format!("  \"{k}\" : {v}")).collect();
    format!("{{\n{}\n}}", lines.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    const USER_DATA: &[u8] = b"#!/bin/sh\necho hello \xff\n";

    fn instance() -> Value {
        json!({
            "AmiLaunchIndex": 0,
            "ImageId": "ami-0123456789abcdef0",
            "InstanceId": "i-0123456789abcdef0",
            "InstanceType": "t3.micro",
            "KeyName": "mykey",
            "LaunchTime": "2024-05-06T07:08:09.000Z",
            "Placement": {"AvailabilityZone": "us-east-1b", "GroupName": "", "Tenancy": "default"},
            "PrivateDnsName": "ip-10-0-1-5.ec2.internal",
            "PrivateIpAddress": "10.0.1.5",
            "PublicDnsName": "",
            "PublicIpAddress": null,
            "SubnetId": "subnet-0aaa",
            "VpcId": "vpc-0bbb",
            "Architecture": "x86_64",
            "NetworkInterfaces": [{
                "Association": null,
                "Attachment": {"DeviceIndex": 0, "NetworkCardIndex": 0},
                "Groups": [{"GroupId": "sg-01", "GroupName": "default"}, {"GroupId": "sg-02", "GroupName": "web"}],
                "MacAddress": "0e:12:34:56:78:9a",
                "NetworkInterfaceId": "eni-0ccc",
                "OwnerId": "123456789012",
                "PrivateDnsName": "ip-10-0-1-5.ec2.internal",
                "PrivateIpAddress": "10.0.1.5",
                "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": "10.0.1.5"}],
                "SubnetId": "subnet-0aaa",
                "VpcId": "vpc-0bbb",
            }],
            "RootDeviceName": "/dev/xvda",
            "SecurityGroups": [{"GroupId": "sg-01", "GroupName": "default"}, {"GroupId": "sg-02", "GroupName": "web"}],
            "Tags": [{"Key": "Name", "Value": "web-1"}, {"Key": "env", "Value": "test"}, {"Key": "a/b", "Value": "hidden"}],
            "MetadataOptions": {
                "State": "applied", "HttpTokens": "optional", "HttpPutResponseHopLimit": 1,
                "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled",
            },
            "_fb": {
                "ReservationId": "r-0ddd",
                "OwnerId": "123456789012",
                "UserData": base64::engine::general_purpose::STANDARD.encode(USER_DATA),
            },
        })
    }

    /// A server whose only instance is 127.0.0.1, with a document the test may change.
    async fn start(doc: Value) -> (std::net::SocketAddr, Arc<Mutex<Option<Value>>>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Some(doc)));
        let s = shared.clone();
        let lookup: InstanceLookup =
            Arc::new(move |ip| if ip == Ipv4Addr::LOCALHOST { s.lock().unwrap().clone() } else { None });
        let server = tokio::spawn(serve_imds(listener, lookup, "us-east-1".to_string()));
        (addr, shared, server)
    }

    struct Answer {
        status: u16,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    impl Answer {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    async fn call(addr: std::net::SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "PUT" {
            request.push_str("Content-Length: 0\r\n");
        }
        request.push_str("\r\n");
        let raw = raw_exchange(addr, request.as_bytes()).await;
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let body = raw[split + 4..].to_vec();
        if let Some(len) = headers.get("content-length") {
            assert_eq!(body.len(), len.parse::<usize>().unwrap());
        }
        Answer { status, headers, body }
    }

    /// Writes `bytes` on a fresh connection and reads until the server closes it (a blocking
    /// client on the blocking pool: the crate's tokio has no `io-util`).
    async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
        try_exchange(addr, bytes, false).await.expect("a complete exchange")
    }

    async fn try_exchange(addr: std::net::SocketAddr, bytes: &[u8], half_close: bool) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(&bytes)?;
            if half_close {
                stream.shutdown(std::net::Shutdown::Write)?;
            }
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw)?;
            Ok(raw)
        })
        .await
        .unwrap()
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> Answer {
        call(addr, "GET", path, &[]).await
    }

    async fn token(addr: std::net::SocketAddr, ttl: &str) -> String {
        let a = call(addr, "PUT", "/latest/api/token", &[("X-aws-ec2-metadata-token-ttl-seconds", ttl)]).await;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.headers.get(TTL_HEADER).map(String::as_str), Some(ttl));
        assert_eq!(a.headers.get("content-type").map(String::as_str), Some("text/plain"));
        a.text()
    }

    #[tokio::test]
    async fn v1_and_v2_sessions() {
        let (addr, doc, server) = start(instance()).await;
        // IMDSv1 with HttpTokens optional.
        let a = get(addr, "/latest/meta-data/instance-id").await;
        assert_eq!((a.status, a.text().as_str()), (200, "i-0123456789abcdef0"));
        assert_eq!(a.headers.get("content-type").map(String::as_str), Some("text/plain"));
        assert_eq!(a.headers.get("server").map(String::as_str), Some("EC2ws"));
        assert!(!a.headers.contains_key(TTL_HEADER));

        // IMDSv2.
        let t = token(addr, "21600").await;
        assert_eq!(t.len(), 44);
        let a = call(addr, "GET", "/latest/meta-data/instance-type", &[("X-aws-ec2-metadata-token", &t)]).await;
        assert_eq!((a.status, a.text().as_str()), (200, "t3.micro"));
        let left: u64 = a.headers[TTL_HEADER].parse().unwrap();
        assert!((21590..=21600).contains(&left), "{left}");
        assert_ne!(token(addr, "60").await, t, "tokens are random");

        // An invalid token is refused even though v1 is allowed.
        let a = call(addr, "GET", "/latest/meta-data/instance-id", &[("X-aws-ec2-metadata-token", "bogus")]).await;
        assert_eq!(a.status, 401);
        assert!(a.text().contains("401 - Unauthorized"), "{}", a.text());

        // HttpTokens required: v1 is refused, v2 works.
        doc.lock().unwrap().as_mut().unwrap()["MetadataOptions"]["HttpTokens"] = json!("required");
        for path in ["/latest/meta-data/instance-id", "/", "/latest/", "/latest/user-data", "/latest/nothing"] {
            assert_eq!(get(addr, path).await.status, 401, "{path}");
        }
        let a = call(addr, "GET", "/latest/meta-data/instance-id", &[("X-aws-ec2-metadata-token", &t)]).await;
        assert_eq!((a.status, a.text().as_str()), (200, "i-0123456789abcdef0"));
        let a = call(addr, "GET", "/latest/meta-data/instance-id", &[("X-aws-ec2-metadata-token", "bogus")]).await;
        assert_eq!(a.status, 401);
        let a = call(addr, "GET", "/latest/meta-data/instance-id", &[("X-aws-ec2-metadata-token", "")]).await;
        assert_eq!(a.status, 401);

        // A new instance on the same address cannot use its predecessor's token.
        doc.lock().unwrap().as_mut().unwrap()["InstanceId"] = json!("i-0fedcba9876543210");
        let a = call(addr, "GET", "/latest/meta-data/instance-id", &[("X-aws-ec2-metadata-token", &t)]).await;
        assert_eq!(a.status, 401);
        let t2 = token(addr, "60").await;
        let a = call(addr, "GET", "/latest/meta-data/instance-id", &[("X-aws-ec2-metadata-token", &t2)]).await;
        assert_eq!((a.status, a.text().as_str()), (200, "i-0fedcba9876543210"));
        server.abort();
    }

    #[tokio::test]
    async fn tokens_expire() {
        let (addr, _doc, server) = start(instance()).await;
        let t = token(addr, "1").await;
        let a = call(addr, "GET", "/latest/meta-data/ami-id", &[("X-aws-ec2-metadata-token", &t)]).await;
        assert_eq!((a.status, a.headers[TTL_HEADER].as_str()), (200, "1"));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let a = call(addr, "GET", "/latest/meta-data/ami-id", &[("X-aws-ec2-metadata-token", &t)]).await;
        assert_eq!(a.status, 401);
        server.abort();
    }

    #[tokio::test]
    async fn token_requests_are_checked() {
        let (addr, _doc, server) = start(instance()).await;
        for ttl in [None, Some("0"), Some("21601"), Some("abc"), Some("-5"), Some("99999999999999999999"), Some("")] {
            let headers: Vec<(&str, &str)> = ttl.map(|t| vec![("X-aws-ec2-metadata-token-ttl-seconds", t)]).unwrap_or_default();
            let a = call(addr, "PUT", "/latest/api/token", &headers).await;
            assert_eq!(a.status, 400, "ttl {ttl:?}");
            assert!(a.text().contains("400 - Bad Request"));
        }
        let a = call(
            addr,
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", "60"), ("X-Forwarded-For", "10.0.0.9")],
        )
        .await;
        assert_eq!(a.status, 403);
        assert_eq!(call(addr, "GET", "/latest/api/token", &[]).await.status, 405);
        assert_eq!(call(addr, "POST", "/latest/meta-data/", &[]).await.status, 405);
        assert_eq!(call(addr, "PUT", "/latest/meta-data/", &[("X-aws-ec2-metadata-token-ttl-seconds", "60")]).await.status, 405);
        // Dated versions have the token path too.
        let a = call(addr, "PUT", "/2021-03-23/api/token", &[("X-aws-ec2-metadata-token-ttl-seconds", "60")]).await;
        assert_eq!(a.status, 200);
        server.abort();
    }

    #[tokio::test]
    async fn listings() {
        let (addr, doc, server) = start(instance()).await;
        let a = get(addr, "/").await;
        assert_eq!(a.status, 200);
        assert!(a.text().starts_with("1.0\n2007-01-19\n"));
        assert!(a.text().ends_with("\nlatest"));
        assert_eq!(get(addr, "/latest").await.text(), "dynamic\nmeta-data\nuser-data");
        assert_eq!(get(addr, "/latest/").await.text(), "dynamic\nmeta-data\nuser-data");
        let want = "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nevents/\nhostname\n\
                    instance-action\ninstance-id\ninstance-life-cycle\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\n\
                    network/\nplacement/\nprofile\nreservation-id\nsecurity-groups\nservices/";
        for path in ["/latest/meta-data/", "/latest/meta-data", "//latest//meta-data//", "/2021-07-15/meta-data/"] {
            let a = get(addr, path).await;
            assert_eq!((a.status, a.text().as_str()), (200, want), "{path}");
        }
        assert_eq!(get(addr, "/latest/meta-data/placement/").await.text(), "availability-zone\navailability-zone-id\nregion");
        assert_eq!(get(addr, "/latest/dynamic/").await.text(), "instance-identity/");
        assert_eq!(get(addr, "/latest/meta-data/network/interfaces/macs/").await.text(), "0e:12:34:56:78:9a/");
        assert_eq!(
            get(addr, "/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/").await.text(),
            "device-number\ninterface-id\nlocal-hostname\nlocal-ipv4s\nmac\nnetwork-card-index\nowner-id\n\
             security-group-ids\nsecurity-groups\nsubnet-id\nvpc-id"
        );

        // Without user data, `user-data` is neither listed nor served.
        doc.lock().unwrap().as_mut().unwrap()["_fb"]["UserData"] = Value::Null;
        assert_eq!(get(addr, "/latest/").await.text(), "dynamic\nmeta-data");
        assert_eq!(get(addr, "/latest/user-data").await.status, 404);
        server.abort();
    }

    #[tokio::test]
    async fn values() {
        let mut d = instance();
        d["_fb"]["SubnetCidrBlock"] = json!("10.0.1.0/24");
        d["_fb"]["VpcCidrBlocks"] = json!(["10.0.0.0/16", "10.1.0.0/16"]);
        d["_fb"]["PublicKey"] = json!("ssh-ed25519 AAAAC3Nza mykey");
        let (addr, doc, server) = start(d).await;
        let cases = [
            ("/latest/meta-data/ami-id", "ami-0123456789abcdef0"),
            ("/latest/meta-data/ami-launch-index", "0"),
            ("/latest/meta-data/hostname", "ip-10-0-1-5.ec2.internal"),
            ("/latest/meta-data/local-hostname", "ip-10-0-1-5.ec2.internal"),
            ("/latest/meta-data/local-ipv4", "10.0.1.5"),
            ("/latest/meta-data/instance-id/", "i-0123456789abcdef0"),
            ("/latest/meta-data/mac", "0e:12:34:56:78:9a"),
            ("/latest/meta-data/reservation-id", "r-0ddd"),
            ("/latest/meta-data/security-groups", "default\nweb"),
            ("/latest/meta-data/placement/availability-zone", "us-east-1b"),
            ("/latest/meta-data/placement/availability-zone-id", "use1-az2"),
            ("/latest/meta-data/placement/region", "us-east-1"),
            ("/latest/meta-data/services/domain", "amazonaws.com"),
            ("/latest/meta-data/services/partition", "aws"),
            ("/latest/meta-data/block-device-mapping/root", "/dev/xvda"),
            ("/latest/meta-data/public-keys/", "0=mykey"),
            ("/latest/meta-data/public-keys/0/", "openssh-key"),
            ("/latest/meta-data/public-keys/0/openssh-key", "ssh-ed25519 AAAAC3Nza mykey"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/device-number", "0"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/interface-id", "eni-0ccc"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/local-ipv4s", "10.0.1.5"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/mac", "0e:12:34:56:78:9a"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/owner-id", "123456789012"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/subnet-id", "subnet-0aaa"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/vpc-id", "vpc-0bbb"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/security-group-ids", "sg-01\nsg-02"),
            ("/latest/meta-data/network/interfaces/macs/0e%3A12%3A34%3A56%3A78%3A9a/security-groups", "default\nweb"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/subnet-ipv4-cidr-block", "10.0.1.0/24"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/vpc-ipv4-cidr-block", "10.0.0.0/16"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/vpc-ipv4-cidr-blocks", "10.0.0.0/16\n10.1.0.0/16"),
        ];
        for (path, want) in cases {
            let a = get(addr, path).await;
            assert_eq!((a.status, a.text().as_str()), (200, want), "{path}");
        }

        // User data: the decoded bytes, as they are.
        let a = get(addr, "/latest/user-data").await;
        assert_eq!((a.status, a.body.as_slice()), (200, USER_DATA));
        assert_eq!(a.headers.get("content-type").map(String::as_str), Some("application/octet-stream"));

        // No public address: no public entries.
        for path in [
            "/latest/meta-data/public-ipv4",
            "/latest/meta-data/public-hostname",
            "/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/public-ipv4s",
        ] {
            assert_eq!(get(addr, path).await.status, 404, "{path}");
        }
        {
            let mut guard = doc.lock().unwrap();
            let d = guard.as_mut().unwrap();
            d["PublicIpAddress"] = json!("198.18.0.10");
            d["PublicDnsName"] = json!("ec2-198-18-0-10.compute-1.amazonaws.com");
            d["NetworkInterfaces"][0]["Association"] =
                json!({"IpOwnerId": "amazon", "PublicDnsName": "ec2-198-18-0-10.compute-1.amazonaws.com", "PublicIp": "198.18.0.10"});
        }
        for (path, want) in [
            ("/latest/meta-data/public-ipv4", "198.18.0.10"),
            ("/latest/meta-data/public-hostname", "ec2-198-18-0-10.compute-1.amazonaws.com"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/public-ipv4s", "198.18.0.10"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/ipv4-associations/", "198.18.0.10"),
            ("/latest/meta-data/network/interfaces/macs/0e:12:34:56:78:9a/ipv4-associations/198.18.0.10", "10.0.1.5"),
        ] {
            let a = get(addr, path).await;
            assert_eq!((a.status, a.text().as_str()), (200, want), "{path}");
        }
        assert!(get(addr, "/latest/meta-data/").await.text().contains("\npublic-hostname\npublic-ipv4\npublic-keys/\n"));

        // The identity document.
        let a = get(addr, "/latest/dynamic/instance-identity/document").await;
        assert_eq!(a.status, 200);
        assert!(a.text().contains("  \"instanceId\" : \"i-0123456789abcdef0\",\n"), "{}", a.text());
        let id: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(
            id,
            json!({
                "accountId": "123456789012", "architecture": "x86_64", "availabilityZone": "us-east-1b",
                "billingProducts": null, "devpayProductCodes": null, "marketplaceProductCodes": null,
                "imageId": "ami-0123456789abcdef0", "instanceId": "i-0123456789abcdef0", "instanceType": "t3.micro",
                "kernelId": null, "pendingTime": "2024-05-06T07:08:09Z", "privateIp": "10.0.1.5", "ramdiskId": null,
                "region": "us-east-1", "version": "2017-09-30",
            })
        );
        server.abort();
    }

    #[tokio::test]
    async fn tags_follow_the_option() {
        let (addr, doc, server) = start(instance()).await;
        assert!(!get(addr, "/latest/meta-data/").await.text().contains("tags/"));
        assert_eq!(get(addr, "/latest/meta-data/tags/instance/Name").await.status, 404);
        assert_eq!(get(addr, "/latest/meta-data/tags/instance/").await.status, 404);

        doc.lock().unwrap().as_mut().unwrap()["MetadataOptions"]["InstanceMetadataTags"] = json!("enabled");
        assert!(get(addr, "/latest/meta-data/").await.text().ends_with("\nservices/\ntags/"));
        assert_eq!(get(addr, "/latest/meta-data/tags/").await.text(), "instance/");
        assert_eq!(get(addr, "/latest/meta-data/tags/instance").await.text(), "Name\nenv");
        assert_eq!(get(addr, "/latest/meta-data/tags/instance/Name").await.text(), "web-1");
        assert_eq!(get(addr, "/latest/meta-data/tags/instance/env").await.text(), "test");
        assert_eq!(get(addr, "/latest/meta-data/tags/instance/missing").await.status, 404);
        server.abort();
    }

    #[tokio::test]
    async fn not_found_disabled_and_strangers() {
        let (addr, doc, server) = start(instance()).await;
        for path in ["/nope", "/latest/meta-data/nope", "/latest/meta-data/instance-id/more", "/2099-01-01/meta-data/", "/latest/api"] {
            let a = get(addr, path).await;
            assert_eq!(a.status, 404, "{path}");
            assert_eq!(a.headers.get("content-type").map(String::as_str), Some("text/html"));
            assert!(a.text().contains("<title>404 - Not Found</title>"), "{}", a.text());
        }

        // HttpEndpoint disabled: 403 for everything, the token too.
        doc.lock().unwrap().as_mut().unwrap()["MetadataOptions"]["HttpEndpoint"] = json!("disabled");
        assert_eq!(get(addr, "/latest/meta-data/instance-id").await.status, 403);
        assert_eq!(call(addr, "PUT", "/latest/api/token", &[("X-aws-ec2-metadata-token-ttl-seconds", "60")]).await.status, 403);

        // No instance behind the address: 404.
        *doc.lock().unwrap() = None;
        assert_eq!(get(addr, "/latest/meta-data/instance-id").await.status, 404);
        assert_eq!(call(addr, "PUT", "/latest/api/token", &[("X-aws-ec2-metadata-token-ttl-seconds", "60")]).await.status, 404);
        server.abort();
    }

    #[tokio::test]
    async fn survives_garbage_and_keeps_connections_alive() {
        let (addr, _doc, server) = start(instance()).await;
        for garbage in [
            &b"\x00\x01\x02garbage\r\n\r\n"[..],
            b"GET /latest/meta-data/%ZZ%\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-aws-ec2-metadata-token: \xff\xfe\r\nConnection: close\r\n\r\n",
            b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: \xff\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            b"GET /latest/meta-data/instance-id HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
        ] {
            let _ = try_exchange(addr, garbage, true).await;
        }
        // Two requests on one connection, the first a token PUT (its hop limit applies to it
        // alone).
        let raw = raw_exchange(
            addr,
            b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\n\r\n\
              GET /latest/meta-data/local-ipv4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        let text = String::from_utf8_lossy(&raw);
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
        assert!(text.ends_with("\r\n\r\n10.0.1.5"), "{text}");
        assert_eq!(get(addr, "/latest/meta-data/local-ipv4").await.text(), "10.0.1.5");
        // HEAD: the head of a GET, no body.
        let raw = raw_exchange(addr, b"HEAD /latest/meta-data/local-ipv4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n"), "{text}");
        server.abort();
    }

    #[tokio::test]
    async fn hop_limit_sets_the_socket_ttl() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let socket = stream.as_fd().try_clone_to_owned().ok().map(std::net::TcpStream::from);
        let default_ttl = stream.ttl().unwrap();
        let conn = Conn { ip: Ipv4Addr::LOCALHOST, socket, default_ttl, lowered: AtomicBool::new(false) };
        conn.set_hop_limit(Some(1));
        assert_eq!(stream.ttl().unwrap(), 1);
        conn.set_hop_limit(None);
        assert_eq!(stream.ttl().unwrap(), default_ttl);
        drop(client);
    }

    #[test]
    fn helpers() {
        assert_eq!(segments("//latest/meta-data/"), vec!["latest", "meta-data"]);
        assert_eq!(percent_decode("a%3Ab%3a%"), "a:b:%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        let e = Reply::error(401);
        assert!(String::from_utf8(e.body).unwrap().contains("<h1>401 - Unauthorized</h1>"));
        // A document with nothing in it is still served without panicking.
        let tree = version_tree(&json!({}), "eu-west-1");
        assert!(matches!(tree.find(&["meta-data".to_string(), "hostname".to_string()]), Some(Node::Leaf(..))));
        let empty = version_tree(&json!({"NetworkInterfaces": "x", "Tags": 5, "_fb": {"UserData": 7}}), "xx");
        assert!(empty.find(&["meta-data".to_string()]).is_some());
    }
}
