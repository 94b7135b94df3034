//! `ceiling`: the upper bound for the Fogbank benchmark.
//!
//! A bare hyper 1 HTTP/1.1 server on a tokio multi-thread runtime that reads
//! each request body in full (as any real server must) and answers every
//! request with the same canned, realistic EC2 `DescribeVpcs` response. No
//! parsing, no state, no routing: whatever Fogbank does on top of this costs
//! throughput, so `fogbank req/s / ceiling req/s` is the share of the machine's
//! HTTP capacity that Fogbank keeps.
//!
//! Usage: `ceiling --port N` (binds 127.0.0.1 only).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, VARY};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What EC2 returns for `DescribeVpcs` on an account holding only the default
/// VPC (same element order and whitespace style as the real service).
static DESCRIBE_VPCS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>
    <vpcSet>
        <item>
            <vpcId>vpc-0a1b2c3d4e5f67890</vpcId>
            <ownerId>123456789012</ownerId>
            <state>available</state>
            <cidrBlock>172.31.0.0/16</cidrBlock>
            <cidrBlockAssociationSet>
                <item>
                    <cidrBlock>172.31.0.0/16</cidrBlock>
                    <associationId>vpc-cidr-assoc-0f1e2d3c4b5a69788</associationId>
                    <cidrBlockState>
                        <state>associated</state>
                    </cidrBlockState>
                </item>
            </cidrBlockAssociationSet>
            <ipv6CidrBlockAssociationSet/>
            <dhcpOptionsId>dopt-0123456789abcdef0</dhcpOptionsId>
            <tagSet/>
            <instanceTenancy>default</instanceTenancy>
            <isDefault>true</isDefault>
            <blockPublicAccessStates>
                <internetGatewayBlockMode>off</internetGatewayBlockMode>
            </blockPublicAccessStates>
        </item>
    </vpcSet>
</DescribeVpcsResponse>"#;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole body, as a real server has to before it can answer.
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(Full::new(Bytes::from_static(DESCRIBE_VPCS_XML.as_bytes())));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml;charset=UTF-8"));
    h.insert(
        "x-amzn-requestid",
        HeaderValue::from_static("7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    Ok(resp)
}

fn parse_port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = None;
    while let Some(arg) = args.next() {
        let value = if arg == "--port" {
            args.next().ok_or("--port needs a value")?
        } else if let Some(v) = arg.strip_prefix("--port=") {
            v.to_string()
        } else if arg == "-h" || arg == "--help" {
            return Err(String::new());
        } else {
            return Err(format!("unknown argument: {arg}"));
        };
        port = Some(value.parse::<u16>().map_err(|e| format!("bad port {value:?}: {e}"))?);
    }
    port.ok_or_else(|| "missing --port N".to_string())
}

async fn serve(port: u16) -> std::io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await?;
    eprintln!("ceiling listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

fn main() -> ExitCode {
    let port = match parse_port() {
        Ok(p) => p,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("ceiling: {msg}");
            }
            eprintln!("usage: ceiling --port N");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    match rt.block_on(serve(port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ceiling: {e}");
            ExitCode::FAILURE
        }
    }
}
