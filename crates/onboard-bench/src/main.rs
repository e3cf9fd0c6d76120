use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = onboard_bench::Cli::parse();
    match onboard_bench::run(cli).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
