//! Turns the PostgreSQL conformance tests on (`cfg(omni_postgres)`) when a test server is
//! configured, so that without one `cargo test` lists them as ignored, with the reason, instead
//! of failing or silently passing.

fn main() {
    println!("cargo::rerun-if-env-changed=OMNI_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(omni_postgres)");
    if std::env::var_os("OMNI_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=omni_postgres");
    }
}
