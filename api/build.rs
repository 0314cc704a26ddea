//! Compiles the PostgreSQL variant of every storage test only when a server is configured, and the
//! schemathesis run only when its `st` command is named, the OpenTelemetry SDK's export only when
//! a Python with the SDK is named (`LUX_OTEL_PYTHON`), the generated-client tests only when both
//! generators are named, so a machine without them runs fewer
//! tests rather than tests that pretend to pass.

fn main() {
    println!("cargo:rerun-if-env-changed=LUX_TEST_DATABASE_URL");
    println!("cargo:rerun-if-env-changed=LUX_SCHEMATHESIS");
    println!("cargo:rerun-if-env-changed=LUX_OTEL_PYTHON");
    println!("cargo:rerun-if-env-changed=LUX_OPENAPI_PYTHON_CLIENT");
    println!("cargo:rerun-if-env-changed=LUX_OPENAPI_TYPESCRIPT");
    if std::env::var_os("LUX_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo:rustc-cfg=lux_postgres_tests");
    }
    if std::env::var_os("LUX_SCHEMATHESIS").is_some_and(|path| !path.is_empty()) {
        println!("cargo:rustc-cfg=lux_schemathesis");
    }
    if std::env::var_os("LUX_OTEL_PYTHON").is_some_and(|path| !path.is_empty()) {
        println!("cargo:rustc-cfg=lux_otel_python");
    }
    let named = |variable: &str| std::env::var_os(variable).is_some_and(|path| !path.is_empty());
    if named("LUX_OPENAPI_PYTHON_CLIENT") && named("LUX_OPENAPI_TYPESCRIPT") {
        println!("cargo:rustc-cfg=lux_client_generators");
    }
}
