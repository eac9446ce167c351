//! Restarting parts of the local stack mid-test, through the same `spark/stack` users run.

use std::path::PathBuf;
use std::process::Command;

fn stack_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spark/stack")
}

/// Runs `spark/stack <args>` and panics with its output if it fails.
pub fn run(args: &[&str]) {
    let out = Command::new(stack_script())
        .args(args)
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
