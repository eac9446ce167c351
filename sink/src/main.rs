//! The `sink` binary: parses flags and calls the library's `forward::run` or `receive::run`
//! with a shutdown tied to Ctrl-C / SIGTERM.

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Trading signals from Kafka to a TCP endpoint, at least once; and the receiving end.
///
/// Every flag also reads an environment variable (shown in brackets); flags win.
#[derive(Debug, Parser)]
#[command(name = "sink", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume the signals topic and write each signal as one line to a TCP endpoint,
    /// committing Kafka offsets only once a line was written (or acknowledged, with --ack).
    ///
    /// The forwarder sets these librdkafka keys itself and refuses them in --kafka-option:
    /// group.id, enable.auto.commit, enable.auto.offset.store, auto.offset.reset,
    /// statistics.interval.ms.
    Forward(Box<sink::forward::ForwardConfig>),
    /// Listen for forwarders: print, de-duplicate, acknowledge and append the signals.
    Receive(sink::receive::ReceiveConfig),
}

/// Exit 0 after a clean stop, 1 with the error chain on stderr when `sink` cannot start.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    sink::logging::init();
    let cli = Cli::parse();
    let shutdown = common::shutdown::on_signals();
    match cli.command {
        Command::Forward(config) => {
            let summary = sink::forward::run(*config, shutdown)
                .await
                .context("sink forward")?;
            eprintln!("forwarder stopped: {summary}");
        }
        Command::Receive(config) => {
            let summary = sink::receive::run(config, shutdown)
                .await
                .context("sink receive")?;
            eprintln!("receiver stopped: {summary}");
        }
    }
    Ok(())
}
