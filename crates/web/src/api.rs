//! Typed calls to the REST API. Every function returns the documented body or an
//! [`ApiError`] a page can show in plain words.

use std::fmt;

use gloo_net::http::{Request, Response};
use natter_domain::api::Health;
use natter_domain::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server could not be reached at all.
    Network(String),
    /// The server answered with its error format.
    Server { status: u16, body: ErrorBody },
    /// The server answered something this client does not understand.
    Unexpected { status: u16 },
}

impl ApiError {
    #[allow(dead_code)] // read by the pages of later issues
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server { body, .. } => Some(body.error.code),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(_) => f.write_str("The server cannot be reached. Check your connection."),
            Self::Server { body, .. } => f.write_str(&body.error.message),
            Self::Unexpected { status } => write!(f, "The server answered unexpectedly ({status})."),
        }
    }
}

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let status = response.status();
    if response.ok() {
        return response
            .json()
            .await
            .map_err(|_| ApiError::Unexpected { status });
    }
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(ApiError::Server { status, body }),
        Err(_) => Err(ApiError::Unexpected { status }),
    }
}

/// `GET /api/health`. A 503 still carries a [`Health`] body saying what is down.
pub async fn health() -> Result<Health, ApiError> {
    let response = Request::get("/api/health")
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    if response.status() == 503 {
        return response
            .json()
            .await
            .map_err(|_| ApiError::Unexpected { status: 503 });
    }
    read_json(response).await
}
