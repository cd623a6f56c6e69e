//! Load shedding: past `--max-in-flight` API requests in progress on this node, a new
//! one is answered 503 with `Retry-After` at once, before any work, so that an
//! overload is refused instead of turned into ever longer waits for everyone. An event
//! stream counts only while it is being opened.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;

/// This node's API requests in progress, and how many it takes at most.
#[derive(Debug)]
pub struct InFlight {
    now: AtomicUsize,
    most: usize,
}

impl InFlight {
    pub fn new(most: usize) -> Self {
        Self {
            now: AtomicUsize::new(0),
            most: most.max(1),
        }
    }
}

/// Takes one place until dropped.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The middleware (see [`actix_web::middleware::from_fn`]).
pub async fn shed<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(in_flight) = request.app_data::<web::Data<InFlight>>().cloned() else {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if in_flight.now.fetch_add(1, Ordering::AcqRel) >= in_flight.most {
        in_flight.now.fetch_sub(1, Ordering::AcqRel);
        // A response, not an error, so that the headers middleware still sees it.
        let refused = ApiError::Overloaded("too many requests in progress");
        return Ok(request.error_response(refused).map_into_right_body());
    }
    let _place = Place(&in_flight.now);
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}
