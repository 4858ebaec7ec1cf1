//! The `entrust-gateway` command: runs the gateway, the demo, or the
//! standalone vendor simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use entrust_gateway::config::{Config, LogFormat, SecretSource, parse_listen};
use entrust_gateway::server::{App, ListenError, Listener, nofile};
use entrust_gateway::{server, sim};

#[global_allocator]
static ALLOC: entrust_gateway::alloc::Mimalloc = entrust_gateway::alloc::Mimalloc;

// A flag another one would silently ignore is refused (exit 2, naming
// both): `conflicts_with` below, and `refuse_with_sim` for the options
// before `sim`.
#[derive(Parser)]
#[command(
    version,
    about = "Signing, rate-limiting sidecar for the vendor's entrust API, with an OpenIM face"
)]
struct Cli {
    /// The config file.
    #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Run against the built-in simulator with demo credentials (no config needed).
    #[arg(long, conflicts_with_all = ["config", "check_config", "skip_secret", "panic_after_ready"])]
    demo: bool,
    /// Validate the config, print it with secrets left out, and exit.
    #[arg(long, conflicts_with_all = ["log_format", "panic_after_ready"])]
    check_config: bool,
    /// With --check-config: don't load the secrets (for checking a
    /// deployment's config where its secret file or variables don't exist).
    #[arg(long, requires = "check_config")]
    skip_secret: bool,
    /// Panic in a background task once ready (tests prove a panic exits non-zero).
    #[arg(long, hide = true)]
    panic_after_ready: bool,
    /// Listen here instead of server.listen (an IP and port; host names are not resolved).
    #[arg(long, value_name = "IP:PORT", value_parser = parse_listen)]
    listen: Option<SocketAddr>,
    /// Log format (overrides log.format).
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Option<Command>,
}

const DEFAULT_CONFIG: &str = "gateway.toml";

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
        #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:9000", value_parser = parse_listen)]
        listen: SocketAddr,
        /// The app key the simulator accepts (the gateway's upstream.app_key).
        #[arg(long, default_value = DEMO_APP_KEY)]
        app_key: String,
        /// Environment variable holding the app secret the simulator
        /// checks signatures with. While it is unset the simulator uses its
        /// built-in demo secret, "demo-app-secret" (public: anyone can sign
        /// with it), and warns at start; set it to your own secret, the one
        /// the gateway signs with.
        #[arg(long, value_name = "VAR", default_value = "ENTRUST_APP_SECRET")]
        app_secret_env: String,
        /// Another app the simulator accepts, its key and the environment
        /// variable holding its secret (repeat for more); each app has its
        /// own per-path limit.
        #[arg(long = "app", value_name = "KEY:SECRET_ENV")]
        apps: Vec<String>,
        /// Per-path limit the simulator enforces (0 = none).
        #[arg(long, default_value_t = 100)]
        rate_per_second: u32,
        /// Also refuse a replayed nonce (10 min) and a timestamp over 5 min
        /// off: the simulator's own checks, which the vendor documents nowhere;
        /// and on v4 paths what the v4 docs ask: a millisecond timestamp, a
        /// nonce of at most 18 characters, a channelId of letters and digits.
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    refuse_with_sim(&cli, &matches);
    let config_given = given(&matches, "config");
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("entrust-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli, config_given));
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

/// Whether the argument `id` is on the command line (not a default).
fn given(matches: &clap::ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// The options before `sim` are the gateway's, which `sim` doesn't run:
/// any of them with `sim` is refused as clap refuses a conflict (exit 2),
/// naming both. `--log-format` is the one both use.
fn refuse_with_sim(cli: &Cli, matches: &clap::ArgMatches) {
    if !matches!(cli.command, Some(Command::Sim { .. })) {
        return;
    }
    let gateway_only = [
        ("config", "--config"),
        ("demo", "--demo"),
        ("check_config", "--check-config"),
        ("skip_secret", "--skip-secret"),
        ("panic_after_ready", "--panic-after-ready"),
        ("listen", "--listen"),
    ];
    let Some((id, flag)) = gateway_only.into_iter().find(|(id, _)| given(matches, id)) else {
        return;
    };
    let hint = if id == "listen" {
        ": the simulator's own address goes after it: 'sim --listen IP:PORT'"
    } else {
        ": it is the gateway's, and sim runs the simulator alone"
    };
    Cli::command()
        .error(
            ErrorKind::ArgumentConflict,
            format!("the argument '{flag}' cannot be used with the subcommand 'sim'{hint}"),
        )
        .exit()
}

/// Where the simulator's secret comes from: the variable, or the built-in
/// demo secret while it is unset.
fn sim_secret(var: &str) -> Result<(String, String), String> {
    match std::env::var(var) {
        Ok(s) if s.is_empty() => Err(format!(
            "simulator: {var} is set but empty: set it to the app secret, or unset it for the built-in demo secret"
        )),
        Ok(s) => Ok((s, format!("environment variable {var}"))),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("simulator: {var} is not valid UTF-8"))
        }
        Err(std::env::VarError::NotPresent) => {
            tracing::warn!(
                "{var} is not set: the simulator checks signatures with its built-in demo secret, which anyone can read in --help; set {var} (or name another variable with --app-secret-env) to your own secret, the one the gateway signs with"
            );
            Ok((
                DEMO_APP_SECRET.to_string(),
                format!("built-in demo secret ({var} is not set)"),
            ))
        }
    }
}

async fn run(cli: Cli, config_given: bool) -> Result<(), String> {
    if let Some(Command::Sim {
        listen,
        app_key,
        app_secret_env,
        apps,
        rate_per_second,
        strict,
        request_log_max,
    }) = cli.command
    {
        init_logs(LogFormat::Text, "info", cli.log_format);
        // Its callers' connections need descriptors as the gateway's do.
        let _ = nofile::raise();
        let (secret, source) = sim_secret(&app_secret_env)?;
        let mut cfg = sim::SimConfig::new(app_key, secret);
        for a in &apps {
            let Some((key, var)) = a
                .split_once(':')
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            else {
                return Err(format!("simulator: --app {a:?}: expected KEY:SECRET_ENV"));
            };
            match std::env::var(var) {
                Ok(s) if !s.is_empty() => cfg = cfg.with_app(key, s),
                _ => {
                    return Err(format!(
                        "simulator: --app {key}: environment variable {var} is not set or empty"
                    ));
                }
            }
        }
        cfg.rate_per_second = rate_per_second;
        cfg.strict = strict;
        cfg.request_log_max = request_log_max;
        return sim::run_standalone(listen, cfg, &source)
            .await
            .map_err(|e| format!("simulator: {e}"));
    }
    if cli.demo {
        return run_demo(cli).await;
    }
    let mut config = Config::load(&cli.config).map_err(|e| {
        let missing = std::fs::metadata(&cli.config)
            .is_err_and(|io| io.kind() == std::io::ErrorKind::NotFound);
        if missing && !config_given {
            format!(
                "{e}; with no --config the gateway reads {DEFAULT_CONFIG} in the current directory: name your config file with --config FILE, or try --demo to run against the built-in simulator"
            )
        } else {
            e.to_string()
        }
    })?;
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    // Every message names the file, as Config::load's do.
    let in_file =
        |e: entrust_gateway::config::ConfigError| format!("{}: {e}", cli.config.display());
    if cli.check_config {
        // Secrets must be loadable too: a missing one fails here, not later.
        if !cli.skip_secret {
            for spec in config.app_specs().map_err(in_file)? {
                spec.secret.load(&spec.secret_key).map_err(in_file)?;
            }
            for spec in config.caller_specs().map_err(in_file)? {
                if let Some(token) = &spec.token {
                    token.load(&spec.token_key).map_err(in_file)?;
                }
            }
            config.load_openim_secret().map_err(in_file)?;
            config.load_auth_tokens().map_err(in_file)?;
            // The certificate, its key and the client CAs, read and checked
            // as at start; only their paths are reported.
            if let Some(tls) = &config.server.tls {
                entrust_gateway::tls::Inbound::new(tls).map_err(in_file)?;
                for (key, path) in entrust_gateway::tls::files(tls) {
                    eprintln!("{key}: {} ok", path.display());
                }
            }
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
        if let (Ok(apps), Ok(callers)) = (config.app_specs(), config.caller_specs()) {
            for a in &apps {
                eprintln!(
                    "app {}: app_key {}, {} data center(s)",
                    a.name,
                    a.app_key,
                    a.urls.len()
                );
            }
            for c in &callers {
                let cap = c
                    .max_per_second
                    .map_or_else(|| "none".to_string(), |m| m.to_string());
                let cert = c
                    .cert_subject
                    .as_deref()
                    .map_or_else(String::new, |s| format!(", cert_subject {s:?}"));
                eprintln!(
                    "caller {}: app {}, weight {}, max_per_second {cap}{cert}",
                    c.name, c.app, c.weight
                );
            }
        }
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
    if !config.has_apps() && matches!(config.secret_source(), Ok(SecretSource::Inline)) {
        tracing::warn!(
            "upstream.app_secret is set inline in the config file; prefer app_secret_env or app_secret_file"
        );
    }
    for (i, a) in config.apps.iter().enumerate() {
        if a.app_secret.is_inline() {
            tracing::warn!(key = %format!("apps[{i}].app_secret"), "a secret is set inline in the config file; prefer {{ env = \"NAME\" }} or {{ file = \"PATH\" }}");
        }
    }
    for (i, c) in config.callers.iter().enumerate() {
        if c.token.as_ref().is_some_and(|t| t.is_inline()) {
            tracing::warn!(key = %format!("callers[{i}].token"), "a token is set inline in the config file; prefer {{ env = \"NAME\" }} or {{ file = \"PATH\" }}");
        }
    }
    nofile::at_start(&config);
    let secret = config.load_secret().map_err(in_file)?;
    let gateway = App::new(config, secret)
        .map_err(in_file)?
        .with_path(cli.config.clone(), cli.listen);
    // Each message names the listener as it was set: by --listen or a key.
    let listen_failed = |e: ListenError| match e.listener {
        Listener::Main if cli.listen.is_some() => {
            format!("--listen: cannot listen on {}: {}", e.addr, e.source)
        }
        _ => format!("{}: {e}", cli.config.display()),
    };
    serve(gateway, cli.panic_after_ready, listen_failed).await
}

async fn serve(
    gateway: App,
    panic_after_ready: bool,
    listen_failed: impl FnOnce(ListenError) -> String,
) -> Result<(), String> {
    let gateway = Arc::new(gateway);
    let mut handle = server::start(gateway.clone())
        .await
        .map_err(listen_failed)?;
    let admin = handle
        .admin_addr
        .map_or_else(|| "off".to_string(), |a| a.to_string());
    let upstream = gateway.vendor().data_centers()[0].label.clone();
    let apps = gateway.apps();
    let names: Vec<&str> = apps.all().iter().map(|a| a.name()).collect();
    let apps = names.join(",");
    // Handlers first: a supervisor may signal as soon as it reads "ready".
    spawn_signal_handlers(gateway, handle.take_shutdown());
    tracing::info!(listen = %handle.addr, admin_listen = %admin, %upstream, %apps, "ready");
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

/// SIGTERM/SIGINT start the graceful shutdown; SIGHUP reloads the config
/// and the secrets kept in files.
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
                tracing::info!(
                    "SIGHUP: reloading the config, its secrets and the server.tls files"
                );
                gateway.reload_from_file();
                gateway.reload_tls();
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
    nofile::at_start(&config);
    let secret = config.load_secret().map_err(|e| e.to_string())?;
    let gateway = Arc::new(App::new(config, secret).map_err(|e| e.to_string())?);
    let mut handle = server::start(gateway.clone()).await.map_err(|e| {
        let how = if cli.listen.is_some() {
            "--listen"
        } else {
            "--demo (its default address)"
        };
        let hint = match free_port_near(e.addr) {
            Some(free) => format!("; {free} is free: try --demo --listen {free}"),
            None => String::new(),
        };
        format!("{how}: cannot listen on {}: {}{hint}", e.addr, e.source)
    })?;
    println!("{}", demo_banner(&handle.url(), &sim_server.url()));
    spawn_signal_handlers(gateway, handle.take_shutdown());
    handle.wait().await;
    Ok(())
}

/// An address near `busy` that can be listened on now: the next ports on
/// its IP, then any port there, then the same on 127.0.0.1 (when `busy`'s
/// IP is not this host's). Free when probed; nothing holds it after.
fn free_port_near(busy: SocketAddr) -> Option<SocketAddr> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], busy.port()));
    [busy, loopback].into_iter().find_map(|base| {
        let next = (1..=10).filter_map(|k| base.port().checked_add(k));
        next.chain([0]).find_map(|port| {
            let probe = SocketAddr::new(base.ip(), port);
            std::net::TcpListener::bind(probe)
                .and_then(|l| l.local_addr())
                .ok()
        })
    })
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
