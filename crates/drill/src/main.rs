//! `triggerd-drill`: runs one restart and recovery drill (see the library
//! docs and `--help`), prints the table, writes the JSON report, and exits
//! 0 when every invariant held, 1 when one failed, 2 when the drill could
//! not run.

use clap::Parser;
use triggerd_drill::{DrillConfig, run};

fn main() -> std::process::ExitCode {
    let config = DrillConfig::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("triggerd-drill: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let report_path = config.report.clone();
    match runtime.block_on(run(config)) {
        Ok(report) => {
            print!("{}", report.table());
            if let Err(e) = report.write_json(&report_path) {
                eprintln!("triggerd-drill: {e}");
                return std::process::ExitCode::from(2);
            }
            println!("report written to {}", report_path.display());
            if !report.passed {
                println!("daemon log kept at {}", report.daemon_log);
            }
            if report.passed {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("triggerd-drill: the drill could not run: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
