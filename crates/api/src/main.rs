use clap::Parser;
use natter_api::config::Command;
use natter_api::db::copy;
use natter_api::{Application, Config, telemetry};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    if let Some(Command::CopyToPostgres { to }) = &config.command {
        return copy_to_postgres(&config, to);
    }
    let app = match Application::build(&config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!("natter could not start: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("natter stopped with an error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
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
