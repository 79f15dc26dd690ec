//! Run-engine overhead: times the real `gantry run` binary (plain output, stdout to /dev/null,
//! i.e. what a user or a CI log sees) on throwaway git repositories holding generated workflows,
//! and reports best and median wall time plus peak RSS (`ru_maxrss` from wait4 on the gantry
//! child; Linux reports the maximum over gantry and the processes it reaped, so this is an upper
//! bound on gantry's own peak — its step and git processes are a few MB each).
//!
//! Cases: 1 job × 200 `run: 'true'` steps against the baseline of spawning the same 200 scripts
//! with `bash -e <file>` (the executor's command line for an unset `shell:`, see
//! crates/gantry-executor/src/shell.rs) from a shell loop; 1 job × 20 steps (per-step
//! marginal cost); a 100-job DAG (root → 98 parallel → join); a chain of 20 jobs. For reference
//! (no target), the three runs again with the work root on tmpfs (`TMPDIR=/dev/shm`).
//!
//! Run: `cargo bench -p gantry --bench run`. Figures are recorded in docs/benchmarks.md.

#![allow(unsafe_code)] // wait4 FFI for the child's rusage; no other unsafe.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 9;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?} failed");
}

/// A fresh repository with one committed workflow.
fn repo(root: &Path, name: &str, workflow: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join(".github/workflows")).expect("mkdir");
    std::fs::write(dir.join(".github/workflows/bench.yml"), workflow).expect("write");
    std::fs::write(dir.join("README.md"), "bench\n").expect("write");
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "bench"]);
    dir
}

fn steps(n: usize) -> String {
    let mut w = String::from("on: push\njobs:\n  only:\n    runs-on: ubuntu-latest\n    steps:\n");
    for _ in 0..n {
        w.push_str("      - run: 'true'\n");
    }
    w
}

fn dag(parallel: usize) -> String {
    let step = "    steps:\n      - run: 'true'\n";
    let mut w = String::from("on: push\njobs:\n");
    let _ = write!(w, "  root:\n    runs-on: ubuntu-latest\n{step}");
    let mut all = Vec::new();
    for i in 0..parallel {
        let _ = write!(
            w,
            "  p{i}:\n    runs-on: ubuntu-latest\n    needs: root\n{step}"
        );
        all.push(format!("p{i}"));
    }
    let _ = write!(
        w,
        "  join:\n    runs-on: ubuntu-latest\n    needs: [{}]\n{step}",
        all.join(", ")
    );
    w
}

fn chain(n: usize) -> String {
    let step = "    steps:\n      - run: 'true'\n";
    let mut w = String::from("on: push\njobs:\n");
    for i in 0..n {
        let _ = write!(w, "  j{i}:\n    runs-on: ubuntu-latest\n");
        if i > 0 {
            let _ = writeln!(w, "    needs: j{}", i - 1);
        }
        w.push_str(step);
    }
    w
}

struct Sample {
    wall: Duration,
    maxrss_kb: i64,
}

/// Spawns `cmd`, waits with wait4 and returns wall time and the child's own peak RSS.
fn measure(cmd: &mut Command) -> Sample {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = i32::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc_rusage::Rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc_rusage::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4");
    let st = std::process::ExitStatus::from_raw(status);
    assert!(st.success(), "benchmarked command failed: {st:?}");
    std::mem::forget(child);
    Sample {
        wall,
        maxrss_kb: usage.ru_maxrss,
    }
}

/// The minimal FFI needed for wait4 (no libc crate in this package's dependencies).
mod libc_rusage {
    #[repr(C)]
    pub struct Timeval {
        pub tv_sec: i64,
        pub tv_usec: i64,
    }
    #[repr(C)]
    pub struct Rusage {
        pub ru_utime: Timeval,
        pub ru_stime: Timeval,
        pub ru_maxrss: i64,
        pub rest: [i64; 13],
    }
    unsafe extern "C" {
        pub fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }
}

struct Stats {
    best: Duration,
    median: Duration,
    maxrss_kb: i64,
}

fn bench(mut make: impl FnMut() -> Command) -> Stats {
    // One warm-up run (page cache, git objects) not counted.
    measure(&mut make());
    let mut walls = Vec::new();
    let mut rss = 0;
    for _ in 0..RUNS {
        let s = measure(&mut make());
        walls.push(s.wall);
        rss = rss.max(s.maxrss_kb);
    }
    walls.sort();
    Stats {
        best: walls[0],
        median: walls[walls.len() / 2],
        maxrss_kb: rss,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(label: &str, command: &str, s: &Stats, target: &str) {
    println!(
        "{label:<34} best {:>8.1} ms  median {:>8.1} ms  peak RSS {:>6.1} MB  target {target}  [{command}]",
        ms(s.best),
        ms(s.median),
        s.maxrss_kb as f64 / 1024.0,
    );
}

fn main() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gantry"));
    let scratch = tempfile::tempdir().expect("temp dir");
    let root = scratch.path();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("gantry run benchmarks: {RUNS} runs after 1 warm-up, {cores} cores, plain output to /dev/null");

    let gantry = |dir: PathBuf| {
        let exe = exe.clone();
        move || {
            let mut c = Command::new(&exe);
            c.args(["run", "push"]).current_dir(&dir);
            c
        }
    };

    // Baseline: the same 200 scripts, one file each, spawned by the executor's command line.
    let scripts = root.join("scripts");
    std::fs::create_dir_all(&scripts).expect("mkdir");
    for i in 0..200 {
        std::fs::write(scripts.join(format!("{i}.sh")), "true\n").expect("write");
    }
    let loop_cmd = format!(
        "for i in $(seq 0 199); do bash -e {}/$i.sh; done",
        scripts.display()
    );
    let baseline = bench(|| {
        let mut c = Command::new("bash");
        c.args(["-c", &loop_cmd]);
        c
    });

    let r200 = repo(root, "steps200", &steps(200));
    let s200 = bench(gantry(r200));
    let r20 = repo(root, "steps20", &steps(20));
    let s20 = bench(gantry(r20));

    report(
        "baseline: 200 × bash script",
        "for i in 0..199: bash -e $i.sh",
        &baseline,
        "-",
    );
    report(
        "1 job × 200 steps",
        "gantry run push > /dev/null",
        &s200,
        "≤ 1.10 × baseline",
    );
    println!(
        "{:<34} best {:.2}×  median {:.2}×  (includes gantry's fixed costs: process start, repo copy, runtime)",
        "ratio gantry / baseline",
        s200.best.as_secs_f64() / baseline.best.as_secs_f64(),
        s200.median.as_secs_f64() / baseline.median.as_secs_f64(),
    );
    report("1 job × 20 steps", "gantry run push > /dev/null", &s20, "-");
    let marginal = (s200.median.as_secs_f64() - s20.median.as_secs_f64()) / 180.0;
    let base_step = baseline.median.as_secs_f64() / 200.0;
    println!(
        "{:<34} gantry {:.3} ms/step (median 200 − 20 steps, /180)  bash loop {:.3} ms/step  fixed ≈ {:.1} ms",
        "per-step marginal cost",
        marginal * 1e3,
        base_step * 1e3,
        (s20.median.as_secs_f64() - 20.0 * marginal) * 1e3,
    );

    let rdag = repo(root, "dag", &dag(98));
    let sdag = bench(gantry(rdag));
    report(
        "100-job DAG (1 → 98 → 1)",
        "gantry run push > /dev/null",
        &sdag,
        "≤ 120 ms wall, ≤ 20 MB",
    );
    let rchain = repo(root, "chain", &chain(20));
    let schain = bench(gantry(rchain.clone()));
    report(
        "chain of 20 jobs",
        "gantry run push > /dev/null",
        &schain,
        "≤ 45 ms wall, ≤ 20 MB",
    );

    // For reference, not a target: the same runs with the work root (job directories, workspace
    // copies) on tmpfs, where creating and deleting files costs little, and a shell loop of the
    // 20 scripts the chain runs. Shows how much of the time above is the file system's.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let on_tmpfs = |dir: PathBuf| {
            let make = gantry(dir);
            move || {
                let mut c = make();
                c.env("TMPDIR", shm);
                c
            }
        };
        let loop20 = format!(
            "for i in $(seq 0 19); do bash -e {}/$i.sh; done",
            scripts.display()
        );
        let baseline20 = bench(|| {
            let mut c = Command::new("bash");
            c.args(["-c", &loop20]);
            c
        });
        report(
            "baseline: 20 × bash script",
            "for i in 0..19: bash -e $i.sh",
            &baseline20,
            "-",
        );
        for (label, dir) in [
            ("1 job × 200 steps, tmpfs", root.join("steps200")),
            ("100-job DAG, tmpfs", root.join("dag")),
            ("chain of 20 jobs, tmpfs", rchain.clone()),
        ] {
            let s = bench(on_tmpfs(dir));
            report(
                label,
                "TMPDIR=/dev/shm gantry run push > /dev/null",
                &s,
                "-",
            );
        }
        // And with workspaces that start empty, as on GitHub (these jobs have no checkout), on
        // the default work root and on tmpfs.
        for (label, dir, tmpfs) in [
            ("100-job DAG, empty workspaces", root.join("dag"), false),
            ("chain of 20 jobs, empty workspaces", rchain.clone(), false),
            ("100-job DAG, empty, tmpfs", root.join("dag"), true),
            ("chain of 20, empty, tmpfs", rchain, true),
        ] {
            let make = gantry(dir);
            let s = bench(move || {
                let mut c = make();
                c.args(["--workspace", "empty"]);
                if tmpfs {
                    c.env("TMPDIR", shm);
                }
                c
            });
            let command = match tmpfs {
                true => "TMPDIR=/dev/shm gantry run push --workspace empty > /dev/null",
                false => "gantry run push --workspace empty > /dev/null",
            };
            report(label, command, &s, "-");
        }
    }
    println!("reference (wrkflw 0.8.0, from the issue, not measured here): 200 steps 0.39 s, DAG 0.23 s, chain 0.07 s");
}
