//! The `fogbank` binary: command line, logging, wiring of services, controllers and server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use fogbank_core::Services;
use fogbank_server::App;
use fogbank_state::Store;

#[derive(Parser, Debug)]
#[command(name = "fogbank", version, about = "AWS compute and networking on one machine")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the AWS APIs (the default).
    Serve(ServeArgs),
    /// Remove what a crashed run left behind on the host (namespaces, links, routes, rules,
    /// cgroups, instance processes), found by their name prefix.
    Cleanup {
        /// The prefix the crashed run used.
        #[arg(long, env = "FOGBANK_SUBSTRATE_PREFIX", default_value = "fb")]
        substrate_prefix: String,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum SubstrateChoice {
    /// Real hosts where the machine allows (root or CAP_NET_ADMIN, `ip`, `nft`), else records.
    Auto,
    /// Real hosts, or refuse to start.
    Netns,
    /// Records only: instances move through their states, nothing runs.
    Records,
}

#[derive(clap::Args, Debug, Clone)]
struct ServeArgs {
    /// Port for every AWS API.
    #[arg(long, env = "FOGBANK_PORT", default_value_t = 4566)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "FOGBANK_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Folder for state (default: $XDG_STATE_HOME/fogbank or ~/.local/state/fogbank).
    #[arg(long, env = "FOGBANK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep state in memory only (for tests).
    #[arg(long)]
    ephemeral: bool,
    /// Account id for requests whose access key is not a 12-digit account id.
    #[arg(long, env = "FOGBANK_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,
    /// Answer InvalidAMIID.NotFound for AMI ids Fogbank does not know, instead of running the
    /// default image.
    #[arg(long, env = "FOGBANK_STRICT_AMIS")]
    strict_amis: bool,
    /// What instances are: real hosts in network namespaces, or records.
    #[arg(long, env = "FOGBANK_SUBSTRATE", value_enum, default_value_t = SubstrateChoice::Auto)]
    substrate: SubstrateChoice,
    /// Starts the name of everything Fogbank creates on the host (at most 6 characters).
    #[arg(long, env = "FOGBANK_SUBSTRATE_PREFIX", default_value = "fb")]
    substrate_prefix: String,
    /// Where instances' public IPs come from; the host reaches it through one link.
    #[arg(long, env = "FOGBANK_PUBLIC_RANGE", default_value = fogbank_ec2::DEFAULT_PUBLIC_RANGE)]
    public_range: String,
    /// Log filter (`info`, `debug` for one line per request, `fogbank=trace`...).
    #[arg(long, env = "FOGBANK_LOG", default_value = "info")]
    log: String,
}

fn default_data_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("fogbank");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/fogbank"),
        None => PathBuf::from(".fogbank"),
    }
}

fn main() -> anyhow::Result<()> {
    let exec_started = Instant::now();
    let cli = Cli::parse();
    let (args, cleanup_prefix) = match cli.command {
        Some(Command::Serve(a)) => (a, None),
        Some(Command::Cleanup { substrate_prefix }) => (cli.serve, Some(substrate_prefix)),
        None => (cli.serve, None),
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    if let Some(prefix) = cleanup_prefix {
        let removed = fogbank_netns::Substrate::cleanup_leftovers(&prefix)
            .with_context(|| format!("cleaning up what runs under the prefix {prefix:?} left"))?;
        tracing::info!("cleanup: removed {removed} leftover objects named {prefix}*");
        return Ok(());
    }
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("--account-id must be 12 digits, got {:?}", args.account_id);
    }
    // Parse the service models off the request path.
    std::thread::spawn(|| {
        let started = Instant::now();
        fogbank_wire::Registry::global().warm();
        tracing::debug!("service models parsed in {} ms", started.elapsed().as_millis());
    });

    let (store, data_desc, data_dir) = if args.ephemeral {
        (Store::open(None)?, "in memory (--ephemeral)".to_string(), None)
    } else {
        let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating data dir {}", dir.display()))?;
        let path = dir.join("state.db");
        let store = Store::open(Some(&path)).with_context(|| format!("opening {}", path.display()))?;
        (store, path.display().to_string(), Some(dir))
    };
    let store = Arc::new(store);
    let public_range = fogbank_ec2::net::Cidr::parse(&args.public_range)
        .filter(|c| c.is_network_address() && c.prefix <= 28)
        .with_context(|| format!("--public-range {:?} is not an IPv4 network of /28 or larger", args.public_range))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (host, substrate, scratch) = start_substrate(&args, &runtime, data_dir.as_deref())?;
    let ec2 = fogbank_ec2::Ec2::new(
        store.clone(),
        fogbank_ec2::Options { strict_amis: args.strict_amis, public_range: Some(public_range) },
        host,
    );
    let services = Services {
        store: store.clone(),
        services: vec![Arc::new(fogbank_sts::Sts), ec2.service()],
        controllers: ec2.controllers(),
    };
    let app = Arc::new(App {
        services,
        default_account: args.account_id.clone(),
        default_region: "us-east-1".into(),
        substrate: substrate.into(),
        version: env!("CARGO_PKG_VERSION"),
    });

    runtime.block_on(async move {
        let addr: SocketAddr = format!("{}:{}", args.host, args.port)
            .parse()
            .with_context(|| format!("bad --host/--port {}:{}", args.host, args.port))?;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        tracing::info!(
            "fogbank {} listening on http://{addr} | data: {data_desc} | substrate: {substrate} | account: {} | ready in {} ms",
            env!("CARGO_PKG_VERSION"),
            args.account_id,
            exec_started.elapsed().as_millis()
        );
        let controllers = fogbank_server::run_controllers(&app);
        fogbank_server::serve(listener, app.clone(), shutdown_signal()).await;
        tracing::info!("shutting down");
        for c in controllers {
            c.abort();
        }
        for c in &app.services.controllers {
            c.shutdown();
        }
        Ok::<(), anyhow::Error>(())
    })?;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Chooses the substrate: real hosts where the machine allows and the user did not say no.
/// Returns the host (if any), the mode's name, and a scratch folder to remove at exit.
fn start_substrate(
    args: &ServeArgs,
    runtime: &tokio::runtime::Runtime,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<(Option<fogbank_ec2::Host>, &'static str, Option<PathBuf>)> {
    if args.substrate == SubstrateChoice::Records {
        tracing::warn!("substrate: records (--substrate records): instances are records that move through their states; no hosts run");
        return Ok((None, "records", None));
    }
    if let fogbank_netns::Mode::RecordsOnly { reason } = fogbank_netns::detect() {
        if args.substrate == SubstrateChoice::Netns {
            anyhow::bail!("--substrate netns asked for, but this machine cannot run it: {reason}");
        }
        tracing::warn!("substrate: RECORDS ONLY: instances are records that move through their states; no hosts, namespaces or packets. Why: {reason}");
        return Ok((None, "records", None));
    }
    // Instances' disks and consoles: under the data dir, or a scratch folder for --ephemeral.
    let (dir, scratch) = match data_dir {
        Some(d) => (d.join("substrate"), None),
        None => {
            let d = std::env::temp_dir().join(format!("fogbank-{}-{}", args.substrate_prefix, std::process::id()));
            (d.clone(), Some(d))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut config = fogbank_netns::SubstrateConfig::new(&dir);
    config.prefix = args.substrate_prefix.clone();
    config.public_range = args
        .public_range
        .parse()
        .map_err(|e| anyhow::anyhow!("--public-range: {e}"))?;
    tracing::info!(
        "substrate: netns: instances are hosts in network namespaces named {}*, public IPs from {}",
        args.substrate_prefix,
        args.public_range
    );
    // The API answers while the substrate sweeps leftovers and builds its edge; a substrate
    // that cannot start ends the process, as a failed start would.
    let substrate = fogbank_ec2::StartingSubstrate::spawn(move || match fogbank_netns::Substrate::new(config) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start the network substrate: {e}");
            std::process::exit(1)
        }
    });
    let host = fogbank_ec2::Host { substrate, runtime: runtime.handle().clone() };
    Ok((Some(host), "netns", scratch))
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
