//! The one error type of the HTTP API and its one JSON envelope:
//! `{"error": {"code": "…", "message": "…", "details": {…}}}`.
//!
//! Every failure a handler can meet becomes an [`ApiError`]; [`ApiError::parts`] is the single
//! exhaustive match from error to status and stable code. A 5xx body never says what went wrong
//! inside: the cause goes to the log with a correlation id that the body repeats.

use achex_listing::{FieldError, LifecycleError, ValidationErrors};
use achex_search::SearchError;
use achex_store::StoreError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;
use utoipa::ToSchema;

#[derive(Debug)]
pub enum ApiError {
    /// The body or query parsed but its values break the rules: 422 with every field listed.
    Validation(ValidationErrors),
    /// The request is not well-formed (bad JSON syntax, wrong content type…).
    BadRequest {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// No valid credentials; the code says which problem (missing, expired, revoked…).
    Unauthenticated {
        code: &'static str,
        message: &'static str,
    },
    /// Signed in but not allowed to do this.
    Forbidden {
        code: &'static str,
        message: &'static str,
    },
    /// Absent, or present but not visible to this caller (never a 403 that confirms existence).
    NotFound,
    /// A business rule refuses the request given the current state.
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// A listing lifecycle action from the wrong status.
    Lifecycle(LifecycleError),
    /// The auction machine refused a command for a business reason.
    Rejected {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    TooManyRequests {
        retry_after_secs: u64,
    },
    PayloadTooLarge {
        limit_bytes: u64,
    },
    /// A dependency (the search backend) cannot answer right now: 503, try again.
    Unavailable {
        code: &'static str,
        message: String,
    },
    /// A bug or an unavailable dependency; details go to the log only.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// The error envelope, as documented in the OpenAPI schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `validation_failed`, `listing_not_draft`.
    pub code: String,
    /// Human-readable explanation (English).
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn validation(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Validation(ValidationErrors::single(field, code, message))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Conflict { code, message: message.into(), details: None }
    }

    pub fn forbidden(code: &'static str, message: &'static str) -> ApiError {
        ApiError::Forbidden { code, message }
    }

    pub fn unauthenticated(code: &'static str, message: &'static str) -> ApiError {
        ApiError::Unauthenticated { code, message }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ApiError {
        ApiError::Internal(err.into())
    }

    /// Status, stable code, message and details: the one place that decides them.
    pub fn parts(&self) -> (StatusCode, &str, String, Option<Value>) {
        match self {
            ApiError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("{} field(s) are invalid", errors.errors.len()),
                Some(json!({ "fields": fields_json(&errors.errors) })),
            ),
            ApiError::BadRequest { status, code, message } => (*status, code, message.clone(), None),
            ApiError::Unauthenticated { code, message } => (StatusCode::UNAUTHORIZED, code, (*message).into(), None),
            ApiError::Forbidden { code, message } => (StatusCode::FORBIDDEN, code, (*message).into(), None),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such resource".into(), None),
            ApiError::Conflict { code, message, details } => {
                (StatusCode::CONFLICT, code, message.clone(), details.clone())
            }
            ApiError::Lifecycle(e) => (
                StatusCode::CONFLICT,
                e.code(),
                e.to_string(),
                Some(json!({ "status": e.from.as_str(), "action": e.action.as_str() })),
            ),
            ApiError::Rejected { status, code, message } => (*status, code, message.clone(), None),
            ApiError::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many attempts; try again later".into(),
                Some(json!({ "retry_after_secs": retry_after_secs })),
            ),
            ApiError::PayloadTooLarge { limit_bytes } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body exceeds {limit_bytes} bytes"),
                Some(json!({ "limit_bytes": limit_bytes })),
            ),
            ApiError::Unavailable { code, message } => (StatusCode::SERVICE_UNAVAILABLE, code, message.clone(), None),
            ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side".into(), None)
            }
        }
    }
}

fn fields_json(errors: &[FieldError]) -> Value {
    Value::Array(errors.iter().map(|e| json!({ "field": e.field, "code": e.code, "message": e.message })).collect())
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(source) => write!(f, "internal error: {source}"),
            other => {
                let (status, code, message, _) = other.parts();
                write!(f, "{status} {code}: {message}")
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message, mut details) = self.parts();
        if let ApiError::Internal(source) = self {
            // Correlates the log line with what the client saw, without revealing the cause.
            let incident = uuid::Uuid::now_v7();
            tracing::error!(%incident, error = %source, debug = ?source, "request failed");
            details = Some(json!({ "incident": incident.to_string() }));
        }
        let mut response = HttpResponse::build(status);
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(ErrorEnvelope { error: ErrorBody { code: code.to_owned(), message, details } })
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Validation(e)
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        ApiError::Lifecycle(e)
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::QueryTooLong { max, .. } => {
                ApiError::validation("q", "too_long", format!("at most {max} characters"))
            }
            SearchError::InvalidQuery(message) => ApiError::validation("query", "invalid_query", message),
            SearchError::NotFound(_) => ApiError::NotFound,
            SearchError::Unavailable(message) => ApiError::Unavailable { code: "search_unavailable", message },
            other @ (SearchError::InvalidDocument { .. } | SearchError::SchemaMismatch | SearchError::Backend(_)) => {
                ApiError::internal(other)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Duplicate("email") => ApiError::conflict("email_taken", "an account with this e-mail exists"),
            StoreError::Duplicate(what) => ApiError::conflict("duplicate", format!("{what} already exists")),
            StoreError::Stale => {
                ApiError::conflict("edit_conflict", "the record was changed meanwhile; reload and try again")
            }
            other @ (StoreError::Corrupt(_) | StoreError::Db(_)) => ApiError::internal(other),
        }
    }
}
