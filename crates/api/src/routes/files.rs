//! Files: `POST /api/uploads` takes one, streamed to the file store as it comes;
//! `GET /api/attachments/{id}` (and `/thumbnail`) serves it back to the members of
//! its message's conversation, in ways that can never run it in Natter's origin.

use actix_web::http::header::{
    self, CacheControl, CacheDirective, ContentDisposition, DispositionParam, DispositionType,
    HeaderValue,
};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::{StreamExt, TryStreamExt};
use natter_domain::api::{Attachment, UploadQuery};
use natter_domain::values::ForField;
use natter_domain::{AttachmentId, ErrorBody, ErrorCode, FileName, ValidationError};
use tokio::sync::Semaphore;

use crate::auth::CurrentUser;
use crate::config::Limits;
use crate::db::attachments::{self, AttachmentRow, Stored};
use crate::db::{self, Db, clock};
use crate::error::ApiError;
use crate::files::images::{self, ImageRefused};
use crate::files::{FileStore, Part, sniff};
use crate::rate::{Action, RateLimits};

/// What is served with every file: nothing in it may run, load or be framed, even
/// if a browser is made to open it as a page.
pub const FILE_CSP: &str = "default-src 'none'; sandbox";
/// The first bytes of an upload, from which its type is found.
const SNIFF_BYTES: usize = 8192;
/// Images decoded at once, each up to [`images::MAX_DECODE_BYTES`]; the rest wait.
static DECODES: Semaphore = Semaphore::const_new(2);

/// Upload a file: its bytes are the request's body (any `Content-Type`; the type is
/// found from the bytes). It is mine until I attach it to a message by sending its
/// id in `attachment_ids`; one not attached within `--keep-unattached` (24 hours) is
/// removed. An image gets its size and a thumbnail, and loses its metadata.
#[utoipa::path(
    tag = "files",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 201, description = "Stored", body = Attachment),
        (status = 400, description = "Bad query string, or the body was cut off", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 413, description = "Larger than `--max-upload` (field `file`)", body = ErrorBody),
        (status = 422, description = "An empty file, an image too large to decode (field `file`), or a `filename` with nothing left once cleaned", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/uploads")]
#[allow(clippy::too_many_arguments)] // one per extractor
pub async fn upload_file(
    user: CurrentUser,
    db: web::Data<Db>,
    store: web::Data<FileStore>,
    rates: web::Data<RateLimits>,
    limits: web::Data<Limits>,
    query: web::Query<UploadQuery>,
    request: HttpRequest,
    body: web::Payload,
) -> Result<(web::Json<Attachment>, actix_web::http::StatusCode), ApiError> {
    rates.check(Action::Upload, user.id)?;
    let filename = FileName::parse(&query.filename).for_field("filename")?;
    let max = limits.max_upload;
    if declared_length(&request).is_some_and(|length| length > max) {
        return Err(too_large(max));
    }
    let key = uuid::Uuid::new_v4().simple().to_string();
    let (uploader, name, row_key) = (user.id, filename.clone(), key.clone());
    let id = db::write(&db, move |conn| {
        attachments::begin(conn, uploader, &name, &row_key)
    })
    .await?;
    let stored = match receive(&store, &key, body, max).await {
        Ok(received) => describe(&store, &key, received).await,
        Err(refused) => Err(refused),
    };
    let stored = match stored {
        Ok(stored) => stored,
        Err(refused) => {
            // Nothing of a refused upload is kept (the purge would find the row
            // and the key if this failed too).
            let _ = store.remove(&key).await;
            db::write(&db, move |conn| attachments::forget(conn, id)).await?;
            return Err(refused);
        }
    };
    let attachment = db::write(&db, move |conn| attachments::stored(conn, id, &stored)).await?;
    tracing::info!(attachment_id = %id, size = attachment.size, content_type = %attachment.content_type, "file uploaded");
    Ok((web::Json(attachment), actix_web::http::StatusCode::CREATED))
}

/// What an upload's body came to.
struct Received {
    size: u64,
    head: Vec<u8>,
}

/// Streams the body to the store as `key`, part by part: never more than a part or
/// two of it in memory. Past `max` bytes it stops at once (413) and keeps nothing.
async fn receive(
    store: &FileStore,
    key: &str,
    mut body: web::Payload,
    max: u64,
) -> Result<Received, ApiError> {
    let mut writer = store.writer(key).await.map_err(store_failed)?;
    let mut received = Received {
        size: 0,
        head: Vec::with_capacity(SNIFF_BYTES),
    };
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                writer.abort().await;
                return Err(ApiError::BadRequest {
                    message: format!("the upload was cut off: {error}"),
                    field: Some("file".into()),
                });
            }
        };
        received.size += chunk.len() as u64;
        if received.size > max {
            writer.abort().await;
            return Err(too_large(max));
        }
        let room = SNIFF_BYTES - received.head.len();
        received
            .head
            .extend_from_slice(&chunk[..room.min(chunk.len())]);
        if let Err(error) = writer.write(&chunk).await {
            writer.abort().await;
            return Err(store_failed(error));
        }
    }
    if received.size == 0 {
        writer.abort().await;
        return Err(ApiError::invalid("file", ValidationError::Empty));
    }
    writer.finish().await.map_err(store_failed)?;
    Ok(received)
}

/// What a stored file is; an image is read (size, thumbnail) and stored again
/// without its metadata.
async fn describe(store: &FileStore, key: &str, received: Received) -> Result<Stored, ApiError> {
    let mut stored = Stored {
        content_type: sniff(&received.head).to_owned(),
        size: i64::try_from(received.size).unwrap_or(i64::MAX),
        width: None,
        height: None,
        thumbnail_type: None,
        stored_at: clock::now(),
    };
    let Some(format) = images::format_of(&stored.content_type) else {
        return Ok(stored);
    };
    let bytes = store.read(key, Part::File).await.map_err(store_failed)?;
    let permit = DECODES
        .acquire()
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    let processed = web::block(move || images::process(&bytes, format))
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    drop(permit);
    match processed {
        Ok(image) => {
            if let Some(stripped) = image.stripped {
                stored.size = i64::try_from(stripped.len()).unwrap_or(i64::MAX);
                store
                    .put(key, Part::File, stripped)
                    .await
                    .map_err(store_failed)?;
            }
            store
                .put(key, Part::Thumbnail, image.thumbnail)
                .await
                .map_err(store_failed)?;
            stored.width = i32::try_from(image.width).ok();
            stored.height = i32::try_from(image.height).ok();
            stored.thumbnail_type = Some(image.thumbnail_type.to_owned());
        }
        Err(ImageRefused::TooLarge) => {
            return Err(ApiError::CodedField {
                code: ErrorCode::InvalidValue,
                message: "this image is too large to read: at most 16384 pixels a side",
                field: "file",
            });
        }
        Err(ImageRefused::Undecodable(error)) => {
            tracing::info!(%error, "an upload that looked like an image is kept as a plain file");
            "application/octet-stream".clone_into(&mut stored.content_type);
        }
    }
    Ok(stored)
}

fn declared_length(request: &HttpRequest) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(max: u64) -> ApiError {
    tracing::info!(max, "an upload over the limit was refused");
    ApiError::CodedField {
        code: ErrorCode::PayloadTooLarge,
        message: "this file is larger than the server accepts (--max-upload)",
        field: "file",
    }
}

fn store_failed(error: object_store::Error) -> ApiError {
    ApiError::Internal(anyhow::Error::new(error).context("the file store failed"))
}

/// Download a file of a message in one of my conversations (or my own upload not
/// attached yet). PNG, JPEG, GIF and WebP are shown inline; everything else is a
/// download. `Range` asks for part of it (one range).
#[utoipa::path(
    tag = "files",
    params(("id" = AttachmentId, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The file, as its `Content-Type` says", content_type = "*/*"),
        (status = 206, description = "The part `Range` asked for", content_type = "*/*"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such file, or not a member of its conversation", body = ErrorBody),
        (status = 416, description = "`Range` outside the file", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/attachments/{id}")]
pub async fn download_attachment(
    user: CurrentUser,
    db: web::Data<Db>,
    store: web::Data<FileStore>,
    id: web::Path<AttachmentId>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let row = visible(&db, id.into_inner(), &user).await?;
    let size = u64::try_from(row.size).unwrap_or_default();
    let range = match request.headers().get(header::RANGE) {
        None => None,
        Some(value) => {
            let parsed = value
                .to_str()
                .ok()
                .and_then(|value| actix_files::HttpRange::parse(value, size).ok());
            match parsed.as_deref() {
                Some([one]) => Some(one.start..one.start + one.length),
                // Several ranges: the whole file (a server may ignore Range).
                Some(_) => None,
                None => {
                    let body = ErrorBody::new(
                        ErrorCode::RangeNotSatisfiable,
                        format!("Range must ask for bytes within the file's {size}"),
                        Some("Range".into()),
                    );
                    return Ok(HttpResponse::RangeNotSatisfiable()
                        .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                        .json(body));
                }
            }
        }
    };
    let stream = store
        .stream(&row.storage_key, Part::File, range.clone())
        .await
        .map_err(store_failed)?
        .map_err(|error| {
            tracing::warn!(%error, "a download broke off");
            actix_web::error::ErrorInternalServerError("the file store failed")
        });
    let mut response = match &range {
        Some(range) => {
            let mut partial = HttpResponse::PartialContent();
            partial.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", range.start, range.end - 1),
            ));
            partial
        }
        None => HttpResponse::Ok(),
    };
    let length = range.map_or(size, |range| range.end - range.start);
    let inline = row.to_attachment().is_inline_image();
    Ok(response
        .insert_header((header::CONTENT_TYPE, row.content_type.clone()))
        .insert_header(disposition(&row.filename, inline))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(file_csp())
        .insert_header(private_cache())
        .no_chunking(length)
        .streaming(stream))
}

/// A smaller copy of an image file (at most 400 px a side), for showing in the
/// conversation.
#[utoipa::path(
    tag = "files",
    params(("id" = AttachmentId, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The thumbnail (JPEG, or PNG when transparent)", content_type = "image/*"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such file, not a member of its conversation, or it has no thumbnail", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/attachments/{id}/thumbnail")]
pub async fn attachment_thumbnail(
    user: CurrentUser,
    db: web::Data<Db>,
    store: web::Data<FileStore>,
    id: web::Path<AttachmentId>,
) -> Result<HttpResponse, ApiError> {
    let row = visible(&db, id.into_inner(), &user).await?;
    let Some(content_type) = row.thumbnail_type else {
        return Err(ApiError::NotFound);
    };
    let bytes = store
        .read(&row.storage_key, Part::Thumbnail)
        .await
        .map_err(store_failed)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(disposition(&row.filename, true))
        .insert_header(file_csp())
        .insert_header(private_cache())
        .body(bytes))
}

async fn visible(db: &Db, id: AttachmentId, user: &CurrentUser) -> Result<AttachmentRow, ApiError> {
    let caller = user.id;
    db::read(db, move |conn| attachments::for_download(conn, id, caller))
        .await
        .map_err(ApiError::from)
}

fn file_csp() -> (header::HeaderName, HeaderValue) {
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CSP),
    )
}

/// Only the person's own browser keeps a copy: the bytes of an id never change,
/// but who may read them does.
fn private_cache() -> CacheControl {
    CacheControl(vec![
        CacheDirective::Private,
        CacheDirective::MaxAge(86_400),
    ])
}

/// `inline` or `attachment`, with the name in UTF-8 (RFC 6266) and an ASCII
/// fallback for old clients.
fn disposition(filename: &str, inline: bool) -> ContentDisposition {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|&c| c != '"' && c != '\\')
        .collect();
    ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(header::ExtendedValue {
                charset: header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: filename.as_bytes().to_vec(),
            }),
        ],
    }
}
