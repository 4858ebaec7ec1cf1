//! The `entrust-gateway` command: runs the gateway, the demo, or the
//! standalone vendor simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use entrust_gateway::config::{Config, LogFormat, SecretSource};
use entrust_gateway::server::App;
use entrust_gateway::{server, sim};

#[global_allocator]
static ALLOC: entrust_gateway::alloc::Mimalloc = entrust_gateway::alloc::Mimalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Signing, rate-limiting sidecar for the vendor's entrust API, with an OpenIM face"
)]
struct Cli {
    /// The config file.
    #[arg(long, short, default_value = "gateway.toml")]
    config: PathBuf,
    /// Run against the built-in simulator with demo credentials (no config needed).
    #[arg(long)]
    demo: bool,
    /// Validate the config, print it with secrets left out, and exit.
    #[arg(long)]
    check_config: bool,
    /// With --check-config: don't load the secrets (for checking a
    /// deployment's config where its secret file or variables don't exist).
    #[arg(long, requires = "check_config")]
    skip_secret: bool,
    /// Panic in a background task once ready (tests prove a panic exits non-zero).
    #[arg(long, hide = true)]
    panic_after_ready: bool,
    /// Listen here instead of server.listen.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Log format (overrides log.format).
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the vendor simulator alone, for offline development of your own services.
    Sim {
        /// Address to listen on (an IP and port; host names are not resolved).
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// The app key the simulator accepts (the gateway's upstream.app_key).
        #[arg(long, default_value = DEMO_APP_KEY)]
        app_key: String,
        /// Environment variable holding the app secret (the demo secret if unset).
        #[arg(long, default_value = "ENTRUST_APP_SECRET")]
        app_secret_env: String,
        /// Per-path limit the simulator enforces (0 = none).
        #[arg(long, default_value_t = 100)]
        rate_per_second: u32,
        /// Also refuse a replayed nonce (10 min) and a timestamp over 5 min
        /// off: the simulator's own checks, which the vendor documents nowhere.
        #[arg(long)]
        strict: bool,
        /// Requests kept in the simulator's in-memory request log (the newest).
        #[arg(long, default_value_t = sim::REQUEST_LOG_MAX)]
        request_log_max: usize,
    },
}

const DEMO_APP_KEY: &str = "demo-app-key";
/// Not a secret: the simulator's demo credential, known to anyone who reads this.
const DEMO_APP_SECRET: &str = "demo-app-secret";

fn main() -> ExitCode {
    exit_on_panic();
    let cli = Cli::parse();
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("entrust-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Log lines still buffered for the writer thread go out before exit.
    entrust_gateway::logging::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("entrust-gateway: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// One thread when the process may use one CPU (`TOKIO_WORKER_THREADS=1`,
/// or its CPU affinity or cgroup quota, as `available_parallelism` reads
/// them, e.g. a sidecar limited to 500m): a current-thread runtime then,
/// which serves ~7% more requests a second than a multi-thread runtime's
/// one worker (no work-stealing queues or cross-thread wake-ups;
/// BENCHMARKS.md). Otherwise tokio's multi-thread runtime, a worker per
/// CPU (or `TOKIO_WORKER_THREADS`).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let threads = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Some(Command::Sim {
        listen,
        app_key,
        app_secret_env,
        rate_per_second,
        strict,
        request_log_max,
    }) = cli.command
    {
        init_logs(LogFormat::Text, "info", cli.log_format);
        let secret = std::env::var(&app_secret_env).unwrap_or_else(|_| DEMO_APP_SECRET.to_string());
        let mut cfg = sim::SimConfig::new(app_key, secret);
        cfg.rate_per_second = rate_per_second;
        cfg.strict = strict;
        cfg.request_log_max = request_log_max;
        return sim::run_standalone(listen, cfg)
            .await
            .map_err(|e| format!("simulator: {e}"));
    }
    if cli.demo {
        return run_demo(cli).await;
    }
    let mut config = Config::load(&cli.config).map_err(|e| e.to_string())?;
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    // Every message names the file, as Config::load's do.
    let in_file =
        |e: entrust_gateway::config::ConfigError| format!("{}: {e}", cli.config.display());
    if cli.check_config {
        // Secrets must be loadable too: a missing one fails here, not later.
        if !cli.skip_secret {
            config.load_secret().map_err(in_file)?;
            config.load_openim_secret().map_err(in_file)?;
            config.load_auth_tokens().map_err(in_file)?;
        }
        // A Redis URL may hold a password, and may come from the environment.
        let redis_url = if cli.skip_secret {
            None
        } else {
            config.redis_topology().map_err(in_file)?
        };
        print!("{}", config.redacted_toml());
        let skipped = if cli.skip_secret {
            " (secrets not loaded)"
        } else {
            ""
        };
        eprintln!("{}: ok{skipped}", cli.config.display());
        if let (Some(url), Some(r)) = (redis_url, &config.redis) {
            let timeout = std::time::Duration::from_millis(r.timeout_ms);
            match entrust_gateway::redis_link::ping(&url, timeout).await {
                Ok(()) => eprintln!("redis: answered"),
                Err(e) => eprintln!(
                    "redis: did not answer ({e}); the gateway would start on its fallback quota"
                ),
            }
        }
        return Ok(());
    }
    init_logs(config.log.format, &config.log.level, cli.log_format);
    if matches!(config.secret_source(), Ok(SecretSource::Inline)) {
        tracing::warn!(
            "upstream.app_secret is set inline in the config file; prefer app_secret_env or app_secret_file"
        );
    }
    let secret = config.load_secret().map_err(in_file)?;
    let gateway = App::new(config, secret).map_err(in_file)?;
    serve(gateway, cli.panic_after_ready).await
}

async fn serve(gateway: App, panic_after_ready: bool) -> Result<(), String> {
    let gateway = Arc::new(gateway);
    let mut handle = server::start(gateway.clone())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", gateway.config().server.listen))?;
    let admin = handle
        .admin_addr
        .map_or_else(|| "off".to_string(), |a| a.to_string());
    let upstream = gateway.vendor().data_centers()[0].label.clone();
    // Handlers first: a supervisor may signal as soon as it reads "ready".
    spawn_signal_handlers(gateway, handle.take_shutdown());
    tracing::info!(listen = %handle.addr, admin_listen = %admin, %upstream, "ready");
    if panic_after_ready {
        tokio::spawn(async { panic!("--panic-after-ready") });
    }
    handle.wait().await;
    Ok(())
}

/// A panic anywhere, a background task included (tokio would otherwise
/// swallow it and the process could later exit 0), ends the process with
/// status 101, Rust's own code for a panic, after the default report.
fn exit_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        // What is logged is written before the process ends.
        entrust_gateway::logging::flush();
        std::process::exit(101);
    }));
}

/// SIGTERM/SIGINT start the graceful shutdown; SIGHUP reloads the secret file.
fn spawn_signal_handlers(gateway: Arc<App>, shutdown: Option<tokio::sync::oneshot::Sender<()>>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM"),
                _ = int.recv() => tracing::info!("SIGINT"),
            }
            if let Some(tx) = shutdown {
                let _ = tx.send(());
            }
        });
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the app secret");
                gateway.reload_secret();
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = gateway;
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            if let Some(tx) = shutdown {
                let _ = tx.send(());
            }
        });
    }
}

async fn run_demo(cli: Cli) -> Result<(), String> {
    init_logs(LogFormat::Text, "info", cli.log_format);
    let (_sim, sim_server) =
        sim::Simulator::start(sim::SimConfig::new(DEMO_APP_KEY, DEMO_APP_SECRET))
            .await
            .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let listen = cli
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let toml = format!(
        "[server]\nlisten = \"{listen}\"\n[upstream]\nurls = [\"{}\"]\napp_key = \"{DEMO_APP_KEY}\"\napp_secret = \"{DEMO_APP_SECRET}\"\n",
        sim_server.url()
    );
    let config = Config::parse(&toml).map_err(|e| e.to_string())?;
    let secret = config.load_secret().map_err(|e| e.to_string())?;
    let gateway = Arc::new(App::new(config, secret).map_err(|e| e.to_string())?);
    let mut handle = server::start(gateway.clone())
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e} (try --listen 127.0.0.1:18080)"))?;
    println!("{}", demo_banner(&handle.url(), &sim_server.url()));
    spawn_signal_handlers(gateway, handle.take_shutdown());
    handle.wait().await;
    Ok(())
}

fn demo_banner(gw: &str, sim: &str) -> String {
    format!(
        r#"entrust-gateway demo: gateway on {gw}, simulated vendor on {sim}
(demo credentials; Ctrl-C to stop). Try, in another terminal:

# create a group through the signing passthrough (no signature needed: the gateway signs)
curl -s -X POST {gw}/entrust/group/create.json -d 'groupId=demo1&name=Demo&owner=alice&userIds=bob,carol'

# read it back
curl -s -X POST {gw}/entrust/group/profile/query.json -d 'groupIds=demo1'

# OpenIM's set_group_info, translated to entrust (the demo has no [openim] section, so the token is not checked)
curl -s -X POST {gw}/group/set_group_info -H 'operationID: op1' -H 'token: demo' -H 'Content-Type: application/json' -d '{{"groupInfoForSet":{{"groupID":"demo1","groupName":"new name","introduction":"hello","needVerification":2}}}}'

# and OpenIM's get_groups_info
curl -s -X POST {gw}/group/get_groups_info -H 'operationID: op2' -H 'token: demo' -H 'Content-Type: application/json' -d '{{"groupIDs":["demo1"]}}'

# health and metrics
curl -s {gw}/healthz
curl -s {gw}/metrics | head
"#
    )
}

fn init_logs(format: LogFormat, level: &str, cli: Option<LogFormatArg>) {
    let json = match cli {
        Some(LogFormatArg::Json) => true,
        Some(LogFormatArg::Text) => false,
        None => format == LogFormat::Json,
    };
    entrust_gateway::logging::init(json, level);
}
