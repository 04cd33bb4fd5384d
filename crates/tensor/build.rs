//! Links the system OpenBLAS when the `blas` feature is on (src/blas.rs
//! calls it); does nothing otherwise.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "blas")]
    link_openblas();
}

/// `-lopenblas` with the search path pkg-config gives (Debian's
/// libopenblas-dev ships `openblas.pc`), or on the linker's default path
/// when pkg-config does not know it.
#[cfg(feature = "blas")]
fn link_openblas() {
    if let Err(e) = pkg_config::Config::new().probe("openblas") {
        println!(
            "cargo:warning=pkg-config did not find openblas ({}); linking -lopenblas from \
             the default path (Debian: apt-get install libopenblas-dev)",
            e.to_string().lines().next().unwrap_or("")
        );
        println!("cargo:rustc-link-lib=dylib=openblas");
    }
}
