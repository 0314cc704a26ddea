//! The page shell every dashboard page shares: head, navigation, and the headers that keep the
//! page from loading anything that Lux did not serve.

use maud::{DOCTYPE, Markup, html};
use poem::Response;
use poem::http::header;

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Sessions,
    Analytics,
    Compare,
    Patterns,
    Plugins,
    None,
}

/// Nothing but Lux's own origin: no CDN, fonts, trackers or inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// A whole page.
pub(crate) fn page(title: &str, nav: Nav, main: Markup) -> Response {
    let entry = |target: Nav, href: &str, label: &str| {
        html! {
            a href=(href) aria-current=[(nav == target).then_some("page")] { (label) }
        }
    };
    let document = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Lux" }
                link rel="stylesheet" href=(super::assets::url("dashboard.css"));
                link rel="icon" href=(super::assets::url("favicon.svg")) type="image/svg+xml";
                script src=(super::assets::url("dashboard.js")) defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Lux" }
                    nav {
                        (entry(Nav::Sessions, "/", "Sessions"))
                        (entry(Nav::Analytics, "/analytics", "Analytics"))
                        (entry(Nav::Compare, "/compare", "Compare"))
                        (entry(Nav::Patterns, "/patterns", "Patterns"))
                        (entry(Nav::Plugins, "/plugins", "Plugins"))
                    }
                }
                main { (main) }
            }
        }
    };
    html_response(document)
}

/// Markup as an HTML response with the dashboard's security headers.
pub(crate) fn html_response(markup: Markup) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header(header::CACHE_CONTROL, "no-store")
        .body(markup.into_string())
}
