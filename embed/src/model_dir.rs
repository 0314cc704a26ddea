// Where the model lives; shared with build.rs (which installs it there), so the rule is stated once.

/// The model directory: `LUX_MODEL_DIR`, else `$XDG_CACHE_HOME/lux/models/use-multilingual-v3`
/// (`~/.cache/…` without `XDG_CACHE_HOME`, `./.cache/…` without `HOME`).
pub fn default_model_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(dir) = std::env::var_os("LUX_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("lux").join("models").join("use-multilingual-v3")
}
