//! Installs the one browser dependency, TradingView's lightweight-charts, from npm with `npm ci`
//! (the exact version and checksum of `package-lock.json`) into `OUT_DIR`, so the binaries
//! embed it (the dashboard, the backtest report) and no page fetches code from a CDN at run
//! time. One build step for every crate that needs the library: they depend on this crate.
//!
//! npm keeps its download cache in its usual place outside the repository (`~/.npm`, or
//! `npm_config_cache`); `--prefer-offline` lets a rebuild work without the network once the
//! cache holds the package.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The standalone build (defines the global `LightweightCharts`): what the pages load.
const STANDALONE: &str =
    "node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js";

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(file).display());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("web");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/web");
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(web.join(file), out.join(file))
            .unwrap_or_else(|e| panic!("copy web/{file} into OUT_DIR: {e}"));
    }
    let status = Command::new("npm")
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
        ])
        .current_dir(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run npm ({e}); the web pages embed lightweight-charts from npm: \
                 install Node.js and npm (Debian: apt-get install npm)"
            )
        });
    assert!(
        status.success(),
        "npm ci in {} failed: {status}",
        out.display()
    );
    let standalone = out.join(STANDALONE);
    assert!(
        standalone.is_file(),
        "npm ci did not produce {}",
        standalone.display()
    );
    println!(
        "cargo:rustc-env=LIGHTWEIGHT_CHARTS_JS={}",
        standalone.display()
    );
}
