//! Compiles the PostgreSQL variant of every storage test only when a server is configured, so
//! a machine without one runs fewer tests rather than tests that pretend to pass.

fn main() {
    println!("cargo:rerun-if-env-changed=LUX_TEST_DATABASE_URL");
    if std::env::var_os("LUX_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo:rustc-cfg=lux_postgres_tests");
    }
}
