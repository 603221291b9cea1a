//! Entry point: parses the command line and hands over to `cli`.

fn main() -> std::process::ExitCode {
    airgate::cli::run()
}
