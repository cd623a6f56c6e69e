use clap::Parser;
use natter_api::{Application, Config, telemetry};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
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
