//! Restarting parts of the local stack mid-test, through the same `spark/stack` users run.

use std::path::PathBuf;
use std::process::Command;

fn stack_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spark/stack")
}

/// Runs `spark/stack <args>` and panics with its output if it fails.
pub fn run(args: &[&str]) {
    // A Connect server restarted mid-test must come back, not be fully warm: a 20 s warm-up
    // instead of the default 90 s keeps the fault tests short (STACK_WARM_S set by the caller
    // wins).
    let warm_s = std::env::var("STACK_WARM_S").unwrap_or_else(|_| "20".into());
    let out = Command::new(stack_script())
        .args(args)
        .env("STACK_WARM_S", warm_s)
        .output()
        .expect("run spark/stack");
    assert!(
        out.status.success(),
        "spark/stack {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops one component of the stack (`kafka`, `connect`, ...).
pub fn stop(component: &str) {
    run(&["stop", component]);
}

/// Starts one component again and waits until it is ready.
pub fn start(component: &str) {
    run(&["up", component]);
}

/// Kills one component with SIGKILL, as a crash or the kernel's OOM killer would: no shutdown
/// hook runs. Waits until the process is gone; `spark/stack up` then reports it died and
/// starts it again.
pub fn kill(component: &str) {
    let state = std::env::var("STACK_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.stack"),
        PathBuf::from,
    );
    let pid_file = state.join("pids").join(format!("{component}.pid"));
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{}: {e}; is the stack up?", pid_file.display()));
    let pid = pid.trim();
    let killed = Command::new("kill")
        .args(["-KILL", pid])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -KILL {pid} ({component}) failed");
    let gone = || {
        !Command::new("kill")
            .args(["-0", pid])
            .status()
            .is_ok_and(|s| s.success())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !gone() {
        assert!(
            std::time::Instant::now() < deadline,
            "{component} (pid {pid}) still alive 30 s after SIGKILL"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
