//! The web dashboard at `/`: pages rendered on the server from the same core services as REST, so
//! they read without JavaScript and show the API's figures; one small script adds live updates.

mod analytics;
mod assets;
mod charts;
mod compare;
mod format;
mod layout;
mod live;
mod login;
mod patterns;
mod plugins;
mod session;
mod sessions;

use lux_core::SessionRef;
use lux_core::services::api_keys::Scope;
use poem::http::{StatusCode, header};
use poem::{IntoResponse, Request, Response, Route, get};

use crate::rest::auth::Caller;
use crate::rest::error::ApiError;
use crate::server::AppState;

/// Where the login form keeps the key: a cookie without expiry, so it lasts the browser session.
const KEY_COOKIE: &str = "lux_key";
/// Asked of the session view by its script: only the part that changes, not the whole page.
const FRAGMENT_HEADER: &str = "x-lux-fragment";

/// Adds the dashboard's pages to the server's routes.
pub(crate) fn mount(route: Route) -> Route {
    route
        .at("/", get(sessions::page))
        .at("/sessions/:id", get(session::page))
        .at("/sessions/:id/live", get(live::events))
        .at("/analytics", get(analytics::page))
        .at("/compare", get(compare::page))
        .at("/patterns", get(patterns::page))
        .at("/plugins", get(plugins::page))
        .at("/login", get(login::form).post(login::submit))
        .at("/logout", poem::post(login::logout))
        .at("/assets/:file", get(assets::serve))
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// A key is needed first: the login form, then back to `next`.
    Login { next: String },
    /// Everything else, mapped from core errors exactly as REST maps them.
    Api(ApiError),
}

impl From<lux_core::Error> for PageError {
    fn from(error: lux_core::Error) -> Self {
        PageError::Api(error.into())
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError::Api(error)
    }
}

impl PageError {
    /// A 400 whose message starts with the field's name, since a page has no `details` to show.
    pub(crate) fn bad_request(field: &str, message: impl Into<String>) -> Self {
        PageError::Api(ApiError::bad_request(
            field,
            format!("{field}: {}", message.into()),
        ))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login { next } => see_other(&format!("/login?next={}", encode(&next))),
            PageError::Api(error) => {
                let (status, message, retry_after) = error.parts();
                let title = status.canonical_reason().unwrap_or("Error");
                let mut response = layout::page(
                    title,
                    layout::Nav::None,
                    maud::html! {
                        section.empty {
                            h1 { (status.as_u16()) " · " (title) }
                            p { (message) }
                            p { a href="/" { "Back to the sessions" } }
                        }
                    },
                );
                response.set_status(status);
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, seconds.into());
                }
                response
            }
        }
    }
}

/// Lets handlers return `Result<_, PageError>`; the page is rendered by `into_response` above.
impl From<PageError> for poem::Error {
    fn from(error: PageError) -> Self {
        poem::Error::from_response(error.into_response())
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// The caller of a dashboard request: the key in the `Authorization` header or the login cookie,
/// or no key where the REST rules allow that (a fresh loopback server). Pages only read.
pub(crate) async fn caller(state: &AppState, request: &Request) -> Result<Caller, PageError> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let token = bearer.or_else(|| cookie(request, KEY_COOKIE));
    match state
        .policy
        .authorize_token(&state.lux, token, Scope::Read)
        .await
    {
        Ok(caller) => Ok(caller),
        Err(error) if error.parts().0 == StatusCode::UNAUTHORIZED => Err(PageError::Login {
            next: request
                .uri()
                .path_and_query()
                .map_or("/".to_owned(), |path| path.as_str().to_owned()),
        }),
        Err(error) => Err(error.into()),
    }
}

/// The value of one cookie of the request.
fn cookie<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A session id as the pages take it: a UUID, or else the client's external id.
pub(crate) fn session_ref(id: &str) -> SessionRef {
    match id.parse() {
        Ok(id) => SessionRef::Id(id),
        Err(_) => SessionRef::ExternalId(id.to_owned()),
    }
}

/// The script asked for the changing part only.
pub(crate) fn wants_fragment(request: &Request) -> bool {
    request.headers().contains_key(FRAGMENT_HEADER)
}

pub(crate) fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .finish()
}

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An optional query value; an empty form field counts as absent.
pub(crate) fn given(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}
