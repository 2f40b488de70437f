//! The release binary on glibc Linux (`cargo install`, `cargo build --release`) is linked as a
//! non-PIE executable: the dynamic loader then has none of its 16,000-odd relative relocations
//! to apply at every start (about a fifth of a cached `sidekey token`'s instructions before;
//! docs/benchmarks.md, "Start-up of `sidekey token`: static non-PIE, no std start-up, fat LTO").
//! The code stays position-independent (a link option, not a codegen one), so nothing else is
//! rebuilt, and debug builds and the tests keep the default PIE. The static musl build gets the
//! same through `.cargo/config.toml`.
//!
//! The static musl release binary (the image's) is linked without the call-frame tables
//! (`.eh_frame`, `no-eh-frame.ld`): the release profile aborts on panic, so nothing unwinds, and
//! the panic hook (`main.rs`) prints one line and no backtrace. 687 KB of the binary (the same
//! section, "The release binary's size and the idle daemon").

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
    {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
    if var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "musl"
    {
        let script = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("no-eh-frame.ld");
        println!("cargo::rerun-if-changed={}", script.display());
        println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
