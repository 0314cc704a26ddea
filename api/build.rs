//! Compiles the PostgreSQL variant of every storage test only when a server is configured, and the
//! schemathesis run only when its `st` command is named, so a machine without them runs fewer
//! tests rather than tests that pretend to pass.

fn main() {
    println!("cargo:rerun-if-env-changed=LUX_TEST_DATABASE_URL");
    println!("cargo:rerun-if-env-changed=LUX_SCHEMATHESIS");
    if std::env::var_os("LUX_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo:rustc-cfg=lux_postgres_tests");
    }
    if std::env::var_os("LUX_SCHEMATHESIS").is_some_and(|path| !path.is_empty()) {
        println!("cargo:rustc-cfg=lux_schemathesis");
    }
}
