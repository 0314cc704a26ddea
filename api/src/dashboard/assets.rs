//! The dashboard's stylesheet, script and icon, compiled into the binary so `lux serve` needs no
//! files beside it and no CDN.

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Response, handler};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The asset's URL, versioned by the binary so a new release is never served a stale copy.
pub(crate) fn url(file: &str) -> String {
    format!("/assets/{file}?v={}", env!("CARGO_PKG_VERSION"))
}

#[handler]
pub(crate) fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = Assets::get(&file) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("no such asset");
    };
    let content_type = match file.rsplit_once('.').map(|(_, extension)| extension) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header("x-content-type-options", "nosniff")
        .body(asset.data.into_owned())
}
