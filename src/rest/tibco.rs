//! TIBCO API Exchange Gateway style token routes for administrators:
//! `/oauth2/access_token/{token}` and `/oauth2/access_token/owners[/{owner}]`.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Method, Request, StatusCode};
use serde::Serialize;

use super::shared::{basic_challenge, json, no_store, percent_decode, ErrorReply, RestResponse};
use crate::model::TokenRecord;
use crate::oauth::{TokenService, TokenStatus};
use crate::rpc::{Credentials, Verdict};
use crate::store::TokenCursor;

/// Page size of a listing when the request names none.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page size a listing accepts.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// TIBCO-style token routes for administrators, as a `tower::Service` with
/// `Error = Infallible`, for the admin listener:
///
/// | route | answer |
/// |---|---|
/// | `GET /oauth2/access_token/{token}` | the token's record, whatever its status; 404 when unknown |
/// | `DELETE /oauth2/access_token/{token}` | revokes the token (through [`TokenService`], so caches forget it) and answers its record |
/// | `GET /oauth2/access_token/owners?limit=&cursor=` | every record of every service, newest first |
/// | `GET /oauth2/access_token/owners/{owner}?limit=&cursor=` | the records of one owner: the user context, or the client for tokens without one (client_credentials) |
///
/// `owners` is matched before `{token}`; path segments are percent-decoded. The same routes
/// under `/asg` (TIBCO's own prefix) work too; other paths get 404.
///
/// A record is, member for member as in TIBCO's documentation: `id`, `accessToken` (the token
/// presented in the path; `null` in listings, which never carry token values), `refreshToken`
/// (`null`: refresh tokens are not stored in clear), `secret` (the MAC key of a MAC token when
/// the token is in the path, else `null`), `owner`, `client`, `classification` (the first scope
/// or `null`), `scopes`, `status` (`Active`, `Revoked` or `Expired`), `key` (`0`), `createdOn`
/// and `expiresOn` (epoch milliseconds), `grantType`, `samlToken` (`null`) and `stringId` (the
/// id again).
///
/// A listing is `{"tokens": [...], "next_cursor": "…" | null}`: `limit` is 1 to
/// [`MAX_PAGE_SIZE`] (default [`DEFAULT_PAGE_SIZE`]); pass `next_cursor` back as `cursor` for
/// the next page. The cursor is opaque and stable: records created later do not shift pages.
///
/// Callers authenticate with the admin [`Credentials`], as for the JSON-RPC API: missing get
/// 401 with a Basic challenge, wrong 403. Every answer carries `Cache-Control: no-store`;
/// errors are JSON `{error, error_description}`; a store failure is 503 with `Retry-After`.
#[derive(Debug, Clone)]
pub struct TibcoTokenApi {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tokens: Arc<TokenService>,
    credentials: Credentials,
}

/// A route of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `owners` (`None`) or `owners/{owner}`.
    Owners(Option<String>),
    /// `{token}`.
    Token(String),
}

/// A token record the TIBCO way.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TibcoToken<'a> {
    id: &'a str,
    access_token: Option<&'a str>,
    refresh_token: Option<&'a str>,
    secret: Option<String>,
    owner: &'a str,
    client: &'a str,
    classification: Option<&'a str>,
    scopes: Vec<&'a str>,
    status: &'static str,
    key: u8,
    created_on: i64,
    expires_on: i64,
    grant_type: &'static str,
    saml_token: Option<&'a str>,
    string_id: &'a str,
}

#[derive(Serialize)]
struct Listing<'a> {
    tokens: Vec<TibcoToken<'a>>,
    next_cursor: Option<String>,
}

impl TibcoTokenApi {
    /// The routes over `tokens`, accepting callers with `credentials`.
    pub fn new(tokens: Arc<TokenService>, credentials: Credentials) -> Self {
        TibcoTokenApi {
            inner: Arc::new(Inner {
                tokens,
                credentials,
            }),
        }
    }

    /// Whether `path` is one of this API's routes, so a router can send it here.
    ///
    /// ```
    /// use tokengate::rest::TibcoTokenApi;
    /// assert!(TibcoTokenApi::owns("/oauth2/access_token/owners"));
    /// assert!(TibcoTokenApi::owns("/asg/oauth2/access_token/abc"));
    /// assert!(!TibcoTokenApi::owns("/v2/json-rpc"));
    /// ```
    pub fn owns(path: &str) -> bool {
        route(path).is_some()
    }

    pub(crate) async fn handle<B>(&self, req: Request<B>) -> RestResponse {
        no_store(match self.inner.answer(req).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        })
    }
}

impl Inner {
    async fn answer<B>(&self, req: Request<B>) -> Result<RestResponse, ErrorReply> {
        let route =
            route(req.uri().path()).ok_or_else(|| ErrorReply::not_found("No such route"))?;
        let allowed = match route {
            Route::Owners(_) => "GET, HEAD",
            Route::Token(_) => "GET, HEAD, DELETE",
        };
        let method = req.method();
        let reads = *method == Method::GET || *method == Method::HEAD;
        let deletes = *method == Method::DELETE && matches!(route, Route::Token(_));
        if !reads && !deletes {
            return Err(ErrorReply::method_not_allowed(allowed));
        }
        let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
        match self.credentials.check(authorization, req.uri().query()) {
            Verdict::Allowed => {}
            Verdict::Missing => {
                let mut res = ErrorReply::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Credentials required",
                )
                .into_response();
                res.headers_mut()
                    .insert(WWW_AUTHENTICATE, basic_challenge());
                return Ok(res);
            }
            Verdict::Denied => {
                return Err(ErrorReply::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "Access denied",
                ))
            }
        }
        let failed = |e: crate::Error| ErrorReply::from_error(&e);
        match route {
            Route::Token(token) => {
                let record = if deletes {
                    self.tokens.revoke_token_record(&token).await
                } else {
                    self.tokens.token_record(&token).await
                }
                .map_err(failed)?
                .ok_or_else(|| ErrorReply::not_found("Unknown access token"))?;
                let mut shown = self.show(&record, Some(&token));
                shown.secret = self.tokens.mac_key(&record, &token);
                Ok(json(StatusCode::OK, &shown))
            }
            Route::Owners(owner) => {
                let (limit, after) = page_params(req.uri().query())?;
                let mut records = self
                    .tokens
                    .list_token_records(owner.as_deref(), after.as_ref(), limit + 1)
                    .await
                    .map_err(failed)?;
                let next_cursor = if records.len() > limit as usize {
                    records.truncate(limit as usize);
                    records
                        .last()
                        .map(|r| encode_cursor(&TokenCursor::after(r)))
                } else {
                    None
                };
                let tokens = records.iter().map(|r| self.show(r, None)).collect();
                Ok(json(
                    StatusCode::OK,
                    &Listing {
                        tokens,
                        next_cursor,
                    },
                ))
            }
        }
    }

    fn show<'a>(&self, record: &'a TokenRecord, token: Option<&'a str>) -> TibcoToken<'a> {
        let scopes: Vec<&str> = record
            .scope
            .as_deref()
            .unwrap_or("")
            .split_ascii_whitespace()
            .collect();
        TibcoToken {
            id: &record.id,
            access_token: token,
            refresh_token: None,
            secret: None,
            owner: record.owner(),
            client: &record.client_id,
            classification: scopes.first().copied(),
            scopes,
            status: TokenStatus::of(record, self.tokens.now()).as_str(),
            key: 0,
            created_on: record.created_at,
            expires_on: record.expires_at,
            grant_type: record.grant_type.as_str(),
            saml_token: None,
            string_id: &record.id,
        }
    }
}

fn route(path: &str) -> Option<Route> {
    let path = path
        .strip_prefix("/asg")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(path);
    let rest = path.strip_prefix("/oauth2/access_token/")?;
    if rest == "owners" {
        return Some(Route::Owners(None));
    }
    let segment = |s: &str| {
        (!s.is_empty() && !s.contains('/'))
            .then(|| percent_decode(s, false))
            .flatten()
    };
    match rest.strip_prefix("owners/") {
        Some(owner) => segment(owner).map(|o| Route::Owners(Some(o))),
        None => segment(rest).map(Route::Token),
    }
}

/// `limit` and `cursor` from a listing's query string.
fn page_params(query: Option<&str>) -> Result<(u32, Option<TokenCursor>), ErrorReply> {
    let mut limit = None;
    let mut cursor = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match &*name {
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(ErrorReply::invalid_request(format!(
                "Parameter `{name}` is repeated"
            )));
        }
    }
    let limit = match limit.filter(|l| !l.is_empty()) {
        None => DEFAULT_PAGE_SIZE,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
            .ok_or_else(|| {
                ErrorReply::invalid_request(format!(
                    "limit must be a number from 1 to {MAX_PAGE_SIZE}"
                ))
            })?,
    };
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .map(|c| decode_cursor(&c).ok_or_else(|| ErrorReply::invalid_request("Invalid cursor")))
        .transpose()?;
    Ok((limit, cursor))
}

/// `base64url("{created_at}.{id}")`.
fn encode_cursor(cursor: &TokenCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", cursor.created_at, cursor.id))
}

fn decode_cursor(text: &str) -> Option<TokenCursor> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let (created_at, id) = raw.split_once('.')?;
    Some(TokenCursor {
        created_at: created_at.parse().ok()?,
        id: id.to_owned(),
    })
}

super::endpoint_service!(TibcoTokenApi);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let owners = |o: Option<&str>| Some(Route::Owners(o.map(str::to_owned)));
        let token = |t: &str| Some(Route::Token(t.to_owned()));
        assert_eq!(route("/oauth2/access_token/owners"), owners(None));
        assert_eq!(
            route("/oauth2/access_token/owners/alice"),
            owners(Some("alice"))
        );
        assert_eq!(
            route("/oauth2/access_token/owners/user%20one%2F2"),
            owners(Some("user one/2"))
        );
        assert_eq!(route("/oauth2/access_token/abc123"), token("abc123"));
        assert_eq!(route("/asg/oauth2/access_token/abc123"), token("abc123"));
        assert_eq!(route("/asg/oauth2/access_token/owners"), owners(None));
        for missing in [
            "/oauth2/access_token",
            "/oauth2/access_token/",
            "/oauth2/access_token/owners/",
            "/oauth2/access_token/owners/a/b",
            "/oauth2/access_token/a/b",
            "/oauth2/access_token/%zz",
            "/asgoauth2/access_token/abc",
            "/v2/json-rpc",
        ] {
            assert_eq!(route(missing), None, "{missing}");
        }
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let cursor = TokenCursor {
            created_at: 1_700_000_000_123,
            id: "0123456789abcdef0123456789abcdef".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Some(cursor.clone()));
        let (limit, after) = page_params(Some(&format!(
            "limit=7&cursor={}&api_key=x",
            encode_cursor(&cursor)
        )))
        .unwrap();
        assert_eq!((limit, after), (7, Some(cursor)));
        assert_eq!(page_params(None).unwrap(), (DEFAULT_PAGE_SIZE, None));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "limit=-1",
            "cursor=%%%",
            "cursor=bm9kb3Q",
            "limit=1&limit=2",
        ] {
            assert_eq!(
                page_params(Some(bad)).unwrap_err().code(),
                "invalid_request",
                "{bad}"
            );
        }
        assert_eq!(page_params(Some("limit=1000")).unwrap().0, 1000);
    }
}
