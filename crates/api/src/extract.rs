//! Request bodies: JSON only, at most [`BODY_LIMIT`] bytes, and a 400 that names the
//! field when the JSON does not fit the expected shape.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use natter_domain::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body accepted (64 KiB); larger ones get 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        let body = Bytes::from_request(request, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::BadRequest {
                    message: "send the body as JSON with Content-Type: application/json".into(),
                    field: None,
                });
            }
            let body = body.await.map_err(|error| {
                if matches!(
                    error.as_error::<PayloadError>(),
                    Some(PayloadError::Overflow)
                ) {
                    too_large()
                } else {
                    ApiError::BadRequest {
                        message: "the request body could not be read".into(),
                        field: None,
                    }
                }
            })?;
            parse(&body).map(Json)
        })
    }
}

fn too_large() -> ApiError {
    ApiError::Coded {
        code: ErrorCode::PayloadTooLarge,
        message: "the request body is larger than 64 KiB",
    }
}

/// Parses `body` as `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > BODY_LIMIT {
        return Err(too_large());
    }
    if std::str::from_utf8(body).is_err() {
        return Err(invalid_utf8(body));
    }
    // Every body is an object. serde would also read a struct from an array of its
    // fields in order (`[null, null]`), which no client means to send.
    if body
        .trim_ascii_start()
        .first()
        .is_some_and(|first| *first != b'{')
    {
        return Err(ApiError::BadRequest {
            message: "the body must be a JSON object".into(),
            field: None,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        // Only a well-formed document that does not fit the shape has a field at fault.
        let field = match inner.classify() {
            serde_json::error::Category::Data if path == "." => {
                named_in_message(&inner.to_string())
            }
            serde_json::error::Category::Data => Some(path),
            _ => None,
        };
        let message = match &field {
            Some(field) => format!("{field}: {}", strip_position(&inner.to_string())),
            None => format!("malformed JSON: {}", strip_position(&inner.to_string())),
        };
        ApiError::BadRequest { message, field }
    })?;
    deserializer.end().map_err(|error| ApiError::BadRequest {
        message: format!("malformed JSON: {}", strip_position(&error.to_string())),
        field: None,
    })?;
    Ok(value)
}

/// A 422 naming the string field that holds bytes which are not UTF-8, or a 400 when
/// the damage is outside any string.
fn invalid_utf8(body: &[u8]) -> ApiError {
    fn find(value: &serde_json::Value, path: &str) -> Option<String> {
        match value {
            serde_json::Value::String(text) if text.contains('\u{FFFD}') => Some(path.to_owned()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| find(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                find(item, &path)
            }),
            _ => None,
        }
    }
    let lossy = String::from_utf8_lossy(body);
    match serde_json::from_str::<serde_json::Value>(&lossy)
        .ok()
        .and_then(|value| find(&value, ""))
        .filter(|path| !path.is_empty())
    {
        Some(field) => ApiError::Invalid(natter_domain::FieldError::new(
            field,
            natter_domain::ValidationError::NotUtf8,
        )),
        None => ApiError::BadRequest {
            message: "the body is not valid UTF-8".into(),
            field: None,
        },
    }
}

/// serde names missing and unknown fields only in its message: "missing field `x`".
fn named_in_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    (message.starts_with("missing field") || message.starts_with("unknown field"))
        .then(|| message[start..end].to_owned())
}

/// Drops serde's " at line 1 column 12" suffix, which means nothing to a person.
fn strip_position(message: &str) -> &str {
    message
        .find(" at line ")
        .map_or(message, |at| &message[..at])
}

#[cfg(test)]
mod tests {
    use natter_domain::api::{CreateConversationRequest, CreateInviteRequest, RegisterRequest};

    use super::*;

    fn field_of(error: ApiError) -> Option<String> {
        match error {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_at_fault() {
        let error =
            parse::<RegisterRequest>(br#"{"nickname": 5, "password": "x"}"#).expect_err("type");
        assert_eq!(field_of(error), Some("nickname".into()));
        let error = parse::<RegisterRequest>(br#"{"password": "x"}"#).expect_err("missing");
        assert_eq!(field_of(error), Some("nickname".into()));
        let error = parse::<CreateConversationRequest>(br#"{"title":"t","member_ids":[1,"x"]}"#)
            .expect_err("element");
        assert_eq!(field_of(error), Some("member_ids[1]".into()));
    }

    #[test]
    fn a_body_is_an_object_not_an_array_of_fields() {
        let error = parse::<CreateInviteRequest>(b" [null, null]").expect_err("an array");
        assert_eq!(field_of(error), None);
        assert!(parse::<CreateInviteRequest>(b"{}").is_ok());
    }

    #[test]
    fn malformed_json_has_no_field() {
        for body in [&b"{"[..], b"", b"nickname=a", b"{} {}", b"[1,2"] {
            let error = parse::<RegisterRequest>(body).expect_err("malformed");
            assert!(matches!(error, ApiError::BadRequest { .. }), "{body:?}");
        }
        let error = parse::<RegisterRequest>(b"{\"nickname\": 1\xff}").expect_err("utf-8");
        assert_eq!(field_of(error), None);
    }

    #[test]
    fn invalid_utf8_in_a_string_names_its_field() {
        let error = parse::<RegisterRequest>(b"{\"nickname\": \"a\xffb\", \"password\": \"x\"}")
            .expect_err("utf-8");
        match error {
            ApiError::Invalid(error) => assert_eq!(error.field, "nickname"),
            other => panic!("expected a 422, got {other:?}"),
        }
    }
}
