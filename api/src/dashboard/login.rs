//! `/login` and `/logout`: where keys are required, the dashboard asks for one and keeps it in a
//! cookie that lives for the browser session only (no expiry), `HttpOnly` so no script reads it,
//! `SameSite=Strict` so no other site can ride on it.

use lux_core::services::api_keys::Scope;
use maud::html;
use poem::http::header;
use poem::web::{Data, Form, Query};
use poem::{Response, handler};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{KEY_COOKIE, PageError, PageResult, see_other};
use crate::server::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginParams {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    key: String,
    next: Option<String>,
}

/// Only a path on this server: never `//elsewhere` or `https://…`, so the form is no open redirect.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

fn login_page(next: &str, problem: Option<&str>) -> Response {
    layout::page(
        "Sign in",
        Nav::None,
        html! {
            section.login {
                h1 { "Sign in" }
                p { "This Lux server needs an API key. It is kept for this browser session only." }
                @if let Some(problem) = problem { p.problem role="alert" { (problem) } }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label { "API key " input type="password" name="key" autocomplete="off" required autofocus size="48"; }
                    button type="submit" { "Sign in" }
                }
                p.muted { "Create one with " code { "lux apikey create --scope read" } "." }
            }
        },
    )
}

#[handler]
pub(crate) fn form(Query(params): Query<LoginParams>) -> Response {
    login_page(safe_next(params.next.as_deref()), None)
}

#[handler]
pub(crate) async fn submit(state: Data<&AppState>, Form(submitted): Form<LoginForm>) -> PageResult {
    let next = safe_next(submitted.next.as_deref());
    let key = submitted.key.trim();
    // Keys are `lux_<prefix>_<secret>`; anything else cannot be one and must not reach a header.
    let well_formed = !key.is_empty()
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    if !well_formed {
        let mut page = login_page(next, Some("That is not an API key."));
        page.set_status(poem::http::StatusCode::UNAUTHORIZED);
        return Ok(page);
    }
    match state
        .policy
        .authorize_token(&state.lux, Some(key), Scope::Read)
        .await
    {
        Ok(_) => {
            let mut response = see_other(next);
            response.headers_mut().insert(
                header::SET_COOKIE,
                format!("{KEY_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict")
                    .parse()
                    .map_err(|_| PageError::bad_request("key", "is not an API key"))?,
            );
            Ok(response)
        }
        Err(error) if error.parts().0 == poem::http::StatusCode::UNAUTHORIZED => {
            let mut page = login_page(next, Some("This key is not valid (or was revoked)."));
            page.set_status(poem::http::StatusCode::UNAUTHORIZED);
            Ok(page)
        }
        Err(error) => Err(error.into()),
    }
}

#[handler]
pub(crate) fn logout() -> Response {
    let mut response = see_other("/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        poem::http::HeaderValue::from_static(
            // `KEY_COOKIE`, expired at once.
            "lux_key=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}
