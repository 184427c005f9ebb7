//! Request extractors that turn malformed input into the error envelope instead of actix's
//! plain-text defaults.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// Largest JSON body accepted; listing descriptions are the biggest legitimate payloads.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// A JSON body. Unlike `web::Json` it reports *which* field is wrong (`patents[0].legal_status`)
/// with a stable code, and answers 415 for a non-JSON content type.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::BadRequest {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    code: "unsupported_media_type",
                    message: "send the body as application/json".into(),
                });
            }
            let bytes = bytes.await.map_err(|e| match e.as_response_error().status_code() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit_bytes: JSON_LIMIT as u64 },
                _ => ApiError::bad_request("unreadable_body", "the body could not be read"),
            })?;
            parse_json(&bytes).map(Body)
        })
    }
}

/// Parses JSON, mapping serde's error into a field path and a stable code.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match result {
        Ok(value) => value,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => {
                    let message = inner.to_string();
                    let (field, code) = describe_data_error(&path, &message);
                    ApiError::validation(field, code, strip_position(&message))
                }
                _ => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {inner}")),
            });
        }
    };
    de.end().map_err(|e| ApiError::bad_request("malformed_json", format!("trailing characters: {e}")))?;
    Ok(value)
}

fn describe_data_error(path: &str, message: &str) -> (String, &'static str) {
    let join = |name: &str| if path == "." || path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if let Some(rest) = message.strip_prefix("missing field ") {
        return (join(&quoted(rest).unwrap_or_default()), "required");
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // serde_path_to_error already ends the path with the unknown key.
        let name = quoted(rest).unwrap_or_default();
        let field = if path.ends_with(&name) && path != "." { path.to_owned() } else { join(&name) };
        return (field, "unknown_field");
    }
    let field = if path == "." { "body".to_owned() } else { path.to_owned() };
    if message.starts_with("unknown variant") { (field, "invalid_value") } else { (field, "invalid_type") }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Error handlers for actix's own extractors, so their failures also use the envelope.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::validation("query", "invalid_query", err.to_string()).into()
}

pub fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    // A malformed id names nothing that could exist.
    ApiError::NotFound.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    fn field_and_code(body: &str) -> (String, String) {
        match parse_json::<Outer>(body.as_bytes()).unwrap_err() {
            ApiError::Validation(v) => (v.errors[0].field.clone(), v.errors[0].code.to_owned()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_nested_field_is_named_with_its_path() {
        assert_eq!(field_and_code(r#"{"inner":[{}]}"#), ("inner[0].n".into(), "required".into()));
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        assert_eq!(field_and_code(r#"{"inner":[],"status":"published"}"#), ("status".into(), "unknown_field".into()));
    }

    #[test]
    fn an_out_of_range_number_is_an_invalid_type() {
        assert_eq!(field_and_code(r#"{"inner":[{"n":300}]}"#), ("inner[0].n".into(), "invalid_type".into()));
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(parse_json::<Outer>(b"{"), Err(ApiError::BadRequest { code: "malformed_json", .. })));
    }
}
