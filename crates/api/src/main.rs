use clap::Parser;
use natter_api::config::Command;
use natter_api::db::copy;
use natter_api::{Application, Config, cli, telemetry};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    match &config.command {
        Some(Command::CopyToPostgres { to }) => return copy_to_postgres(&config, to),
        Some(Command::Admin { action }) => return report(cli::admin(&config, action)),
        Some(Command::Backup { to }) => return report(cli::backup(&config, to)),
        None => {}
    }
    let app = match Application::build(&config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!("natter could not start: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    announce(app.address());
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("natter stopped with an error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The first line on standard output, once natter accepts connections: the address it
/// serves on, for whoever started it with port 0 (the tests, scripts).
#[allow(clippy::print_stdout)]
fn announce(address: std::net::SocketAddr) {
    use std::io::Write;
    println!("http://{address}");
    let _ = std::io::stdout().flush();
}

#[allow(clippy::print_stdout)] // the command's report is its output
fn copy_to_postgres(
    config: &Config,
    to: &natter_api::config::DatabaseUrl,
) -> std::process::ExitCode {
    let from = config.database();
    match copy::sqlite_to_postgres(&from, to) {
        Ok(copied) => {
            println!("{:<28} {:>12} {:>12}", "table", "SQLite", "PostgreSQL");
            for table in &copied {
                println!(
                    "{:<28} {:>12} {:>12}",
                    table.table, table.source, table.target
                );
            }
            println!("copied {from} into {to}; start natter with DATABASE_URL set to it");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!("copying {from} into {to} failed: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command's outcome: what it did on standard output, or why not on standard error
/// and a failing exit status.
#[allow(clippy::print_stdout, clippy::print_stderr)] // the command's report is its output
fn report(outcome: anyhow::Result<String>) -> std::process::ExitCode {
    match outcome {
        Ok(said) => {
            println!("{said}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("natter: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
