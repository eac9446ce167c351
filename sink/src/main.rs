//! The `sink` binary: parses and validates its flags ([`cli`]), then calls the library's
//! `forward::run`, `forward::check`, `receive::run` or `dashboard::run` with a shutdown tied to Ctrl-C / SIGTERM.
//!
//! Exit codes are the shared ones (`service::exit`): 0 after a clean stop, 1 when `sink`
//! cannot start or fails, 2 for invalid flags or settings (every problem listed, nothing
//! started), 7 when Kafka refused the forwarder's login or TLS failed verification.

mod cli;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use service::kafka::AuthFailed;

use cli::{Cli, Task};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    let task = match cli.command.task() {
        Ok(task) => task,
        Err(invalid) => return service::exit::report("sink", &invalid, |_| None),
    };
    match run(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => service::exit::report("sink", &*e, AuthFailed::exit_code),
    }
}

#[tokio::main]
async fn run(task: Task) -> anyhow::Result<()> {
    let shutdown = service::shutdown::on_signals();
    match task {
        Task::Forward(settings) => {
            let summary = sink::forward::run(settings, shutdown)
                .await
                .context("sink forward")?;
            eprintln!("forwarder stopped: {summary}");
        }
        Task::Check(settings) => sink::forward::check(settings)
            .await
            .context("sink forward --check")?,
        Task::Dashboard(settings) => {
            let summary = sink::dashboard::run(settings, shutdown)
                .await
                .context("sink dashboard")?;
            eprintln!("dashboard stopped: {summary}");
        }
        Task::Receive(settings) => {
            let summary = sink::receive::run(settings, shutdown)
                .await
                .context("sink receive")?;
            eprintln!("receiver stopped: {summary}");
        }
    }
    Ok(())
}
