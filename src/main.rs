//! triggerd daemon entry point: parses the command line and runs `serve` or
//! `lint`. Everything else lives in the `triggerd` library.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use triggerd::api::{self, Shell, ShellConfig};
use triggerd::cli::{Cli, Command, ServeArgs};
use triggerd::config::{self, Layer, Settings};

/// mimalloc instead of glibc malloc: the ingest path allocates many small,
/// short-lived buffers (JSON values, sled keys and nodes) across threads,
/// where glibc's arenas spent about a fifth of the daemon's CPU (measured
/// with `perf` under `cargo bench --bench ingest`). Its settings:
/// `triggerd::allocator`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint(args) => {
            let code = triggerd::lint::run(&args.files);
            ExitCode::from(u8::try_from(code).unwrap_or(2))
        }
        Command::Serve(args) => {
            triggerd::allocator::apply_defaults();
            match serve(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("triggerd: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Resolves the settings, then runs the server until SIGTERM/SIGINT.
fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let env = Layer::from_env(|name| std::env::var(name).ok())?;
    let mut settings = Settings::resolve(args.to_layer(), env)?;
    triggerd::logging::init(settings.log_format)?;
    // Channel sections are checked before anything is written to the data
    // dir (the generated API key below is), like every other setting.
    triggerd::daemon::channels_config(&settings)?;
    if let Some(generated) = config::ensure_api_key(&mut settings)? {
        println!("{generated}");
    }
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(run(settings))
}

async fn run(mut settings: Settings) -> anyhow::Result<()> {
    let shell = Shell::new(&ShellConfig::from_settings(&settings))?;
    triggerd::metrics::spawn_upkeep(shell.metrics_handle(), Duration::from_secs(5));
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    settings.adopt_bound_addr(listener.local_addr()?);

    let daemon = triggerd::daemon::open(&settings).await?;
    let engine = daemon.engine.clone();
    let twilio_auth_token = triggerd::daemon::channels_config(&settings)?
        .sms
        .map(|s| s.auth_token)
        .filter(|t| !t.is_empty());
    let routes = api::routes::router(api::routes::AppState {
        engine: engine.clone(),
        twilio_auth_token,
        public_url: settings.public_url.clone(),
    });
    let app = shell.wrap(routes);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let timer_loop = if engine.clock.manual().is_none() {
        Some(tokio::spawn(engine.clone().run_timer_loop(stop_rx)))
    } else {
        None
    };
    let upkeep = tokio::spawn(engine.clone().run_upkeep());
    let async_flush = tokio::spawn(engine.clone().run_async_flush());
    let counter_fold = tokio::spawn(engine.clone().run_counter_fold());
    shell.readiness().set_ready();

    tracing::info!(
        data_dir = %settings.data_dir.display(),
        public_url = %settings.public_url,
        "listening on {}",
        settings.listen
    );
    let readiness = shell.readiness();
    let failed_readiness = shell.readiness();
    let storage_watch = triggerd::storage_watch::wait_for_recoverable_failure(
        engine.store.clone(),
        settings.data_dir.clone(),
        Duration::from_secs(1),
        move || failed_readiness.set_not_ready(),
    );
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        let exit = tokio::select! {
            () = api::ops::shutdown_signal() => Exit::Stop,
            () = storage_watch => Exit::Restart,
        };
        readiness.set_not_ready();
        let _ = exit_tx.send(exit);
    };
    api::serve(listener, app, shutdown).await?;
    let exit = exit_rx.await.unwrap_or(Exit::Stop);
    let _ = stop_tx.send(true);
    if let Some(t) = timer_loop {
        let _ = t.await;
    }
    upkeep.abort();
    async_flush.abort();
    counter_fold.abort();
    if exit == Exit::Restart {
        // The store refuses writes for good; everything acknowledged with
        // `flush` durability is already on disk. A fresh process reopens
        // and recovers it. The database is not dropped: dropping it
        // flushes and fsyncs again, and sled unwraps that fsync when it
        // did not see the failure itself (a failed sync of ours). Its
        // files close on exec (O_CLOEXEC), which releases its lock.
        std::mem::forget(engine);
        std::mem::forget(daemon);
        let error = triggerd::storage_watch::reexec();
        return Err(anyhow::anyhow!(
            "cannot restart to reopen the store: {error}"
        ));
    }
    engine.flush_now().await.context("final flush failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// SIGTERM or SIGINT: flush and exit.
    Stop,
    /// The store failed and the disk has space again: re-execute.
    Restart,
}
