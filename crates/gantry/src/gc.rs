//! `gantry gc`: removes the containers, networks and volumes a killed run left in the Docker
//! engine. By default only objects whose creating process on this host is gone (so a run still
//! going is never touched); `--all` removes everything Gantry manages; `--images` also removes
//! the images Gantry built for Docker actions (a cache).
//! Tests: `tests/cli.rs` (`gc_*`).

use std::process::ExitCode;

use anyhow::Result;

/// Runs the command; exit 0 when done, 1 when no engine answers or a removal failed.
pub fn run(all: bool, images: bool) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let engine = match gantry_docker::Engine::connect().await {
            Ok(engine) => engine,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
        };
        let mut report = if all {
            engine.gc(None).await
        } else {
            engine.gc_stale().await
        };
        if images {
            // After the containers: an image a removed container used can go now.
            report = match (report, engine.gc_images().await) {
                (Ok(mut report), Ok(built)) => {
                    report.images = built.images;
                    Ok(report)
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
        }
        match report {
            Ok(report) => {
                print_report(&report);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {}", anyhow::Error::new(e));
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// One line per kind of object removed, or one line saying nothing was left.
pub fn print_report(report: &gantry_docker::GcReport) {
    let mut any = false;
    for (kind, names) in [
        ("containers", &report.containers),
        ("networks", &report.networks),
        ("volumes", &report.volumes),
        ("images", &report.images),
    ] {
        if !names.is_empty() {
            any = true;
            println!("removed {} {kind}: {}", names.len(), names.join(", "));
        }
    }
    if !any {
        println!("nothing to remove");
    }
}
