//! The `lux` binary; everything lives in the `lux_api` library.

fn main() -> std::process::ExitCode {
    lux_api::run_cli()
}
