//! Public tracking routes (no API key; signed tokens instead, R-P2): the
//! open pixel, click redirects, unsubscribe links, SMS short links (R-P3),
//! inbound SMS/WhatsApp (Twilio form, `X-Twilio-Signature` checked when an
//! auth token is configured) and geofence definitions.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use triggerd_gateway::{TrackKind, TrackingClaims};

use super::{AppState, engine_error};
use crate::api::{ApiError, ApiJson, ApiResult};
use crate::store::records::Geofence;

/// Longest inbound SMS body, in characters (Twilio's limit).
pub const MAX_INBOUND_BODY_CHARS: usize = 1_600;
/// Longest inbound WhatsApp body, in characters (WhatsApp's limit).
pub const MAX_INBOUND_WHATSAPP_CHARS: usize = 4_096;
/// Longest inbound `From`, in bytes.
pub const MAX_INBOUND_FROM_BYTES: usize = 255;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn verify(st: &AppState, token: &str, kind: TrackKind) -> ApiResult<TrackingClaims> {
    let signer = st
        .engine
        .gateway
        .gateway()
        .tracking()
        .ok_or_else(|| ApiError::not_found("tracking is not configured"))?;
    signer
        .verify_kind(token, kind)
        .map_err(|e| ApiError::not_found(format!("invalid tracking link: {e}")))
}

/// `GET /t/o/{token}`: records the open, answers the pixel.
pub async fn open(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let claims = verify(&st, &token, TrackKind::Open)?;
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    st.engine
        .track_open(&claims.send_id, ua)
        .await
        .map_err(engine_error)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, max-age=0"),
        ],
        PIXEL,
    )
        .into_response())
}

/// `GET /t/c/{token}`: records the click, redirects to the link.
pub async fn click(State(st): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    let claims = verify(&st, &token, TrackKind::Click)?;
    let url = claims
        .url
        .clone()
        .ok_or_else(|| ApiError::not_found("tracking link without target"))?;
    st.engine
        .track_click(&claims.send_id, claims.alias.clone())
        .await
        .map_err(engine_error)?;
    Ok(redirect_to(&url))
}

/// A 302 to `url`. Tabs and line breaks are dropped, as browsers drop them
/// from URLs (an `href` split across lines); other bytes a header cannot
/// carry or a URL should not hold (controls, space, anything past ASCII)
/// are percent-encoded. A link with a control character in it (from an
/// HTML entity, or from user data interpolated into the link) used to
/// answer 302 without a `Location`.
fn redirect_to(url: &str) -> Response {
    let mut encoded = String::with_capacity(url.len());
    for byte in url.bytes() {
        if matches!(byte, b'\t' | b'\r' | b'\n') {
            continue;
        }
        if byte.is_ascii_graphic() {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, encoded)]).into_response()
}

/// `GET /t/u/{token}`: the unsubscribe page, a button that POSTs to the
/// same address. A GET changes nothing: mail scanners and link previews
/// fetch links in a message, and unsubscribing on GET let them unsubscribe
/// people who never clicked (RFC 8058 one-click unsubscribe is a POST).
pub async fn unsubscribe_page(
    State(st): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    verify(&st, &token, TrackKind::Unsubscribe)?;
    Ok(html_page(
        "<form method=\"post\"><p>Stop receiving these emails?</p>\
         <button type=\"submit\">Unsubscribe</button></form>",
    ))
}

/// `POST /t/u/{token}`: unsubscribes from email (the RFC 8058 one-click
/// POST of a mail client, or the page's button). Answers JSON, or a page
/// when the client asks for HTML (a browser).
pub async fn unsubscribe(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let claims = verify(&st, &token, TrackKind::Unsubscribe)?;
    st.engine
        .unsubscribe_email(&claims.external_id)
        .await
        .map_err(engine_error)?;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return Ok(html_page("<p>You are unsubscribed.</p>"));
    }
    Ok(ApiJson(json!({"message": "success", "unsubscribed": true})).into_response())
}

/// A minimal HTML page around `body`.
fn html_page(body: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <title>Unsubscribe</title></head><body>{body}</body></html>"
        ),
    )
        .into_response()
}

/// `GET /s/{code}`: follows an SMS short link.
pub async fn short_link(
    State(st): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    match st
        .engine
        .follow_short_link(&code)
        .await
        .map_err(engine_error)?
    {
        Some(url) => Ok(redirect_to(&url)),
        None => Err(ApiError::not_found("no such short link")),
    }
}

/// `POST /inbound/sms`: a Twilio-style form (`From`, `To`, `Body`).
pub async fn inbound_sms(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    if let Some(token) = &st.twilio_auth_token {
        let sig = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let url = format!("{}/inbound/sms", st.public_url);
        if !triggerd_gateway::twilio_signature::verify(token, &url, &params, sig) {
            return Err(ApiError::Forbidden("invalid X-Twilio-Signature".into()));
        }
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let from = get("From").ok_or_else(|| ApiError::bad_request("From is required"))?;
    let text = get("Body").unwrap_or_default();
    // The message becomes an event of every user with that phone, its
    // text kept with each send it plans: bounded like any event's data.
    if from.len() > MAX_INBOUND_FROM_BYTES {
        return Err(ApiError::bad_request(format!(
            "From is at most {MAX_INBOUND_FROM_BYTES} bytes"
        )));
    }
    let most = if from.starts_with("whatsapp:") {
        MAX_INBOUND_WHATSAPP_CHARS
    } else {
        MAX_INBOUND_BODY_CHARS
    };
    if text.chars().count() > most {
        return Err(ApiError::bad_request(format!(
            "Body is at most {most} characters (Twilio's limit)"
        )));
    }
    st.engine
        .inbound_message(&from, &text)
        .await
        .map_err(engine_error)?;
    Ok((
        [(header::CONTENT_TYPE, "application/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response())
}

/// `PUT /geofences/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeofenceBody {
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Radius in metres.
    pub radius_m: f64,
}

/// `PUT /geofences/{id}` (R-P6).
pub async fn put_geofence(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<GeofenceBody>,
) -> ApiResult<ApiJson<Value>> {
    st.engine
        .put_geofence(
            &id,
            Geofence {
                lat: b.lat,
                lon: b.lon,
                radius_m: b.radius_m,
            },
        )
        .await
        .map_err(engine_error)?;
    Ok(ApiJson(json!({"id": id, "message": "success"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(url: &str) -> String {
        let response = redirect_to(url);
        assert_eq!(response.status(), StatusCode::FOUND);
        response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a Location header")
            .to_string()
    }

    #[test]
    fn r_p2_redirects_percent_encode_what_a_header_cannot_carry() {
        assert_eq!(
            location("https://example.com/a?b=c&d=%20#e"),
            "https://example.com/a?b=c&d=%20#e",
            "an ordinary link is untouched"
        );
        assert_eq!(
            location("https://example.com/a\nb\u{1}c\u{7f}d e\r\n\tf"),
            "https://example.com/ab%01c%7Fd%20ef"
        );
        assert_eq!(
            location("https://example.com/café"),
            "https://example.com/caf%C3%A9"
        );
    }
}
