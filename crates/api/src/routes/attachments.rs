//! PDF attachments: uploaded as multipart, checked by content (not by the name or the declared
//! type), limited in size while streaming, stored by hash, downloaded as attachments only.

use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ErrorEnvelope};
use crate::files::{looks_like_pdf, safe_file_name};
use crate::routes::listings::{audit_attachment, is_owner, visible_listing};
use crate::state::AppState;
use crate::views::AttachmentView;
use achex_core::{AttachmentId, ListingId};
use achex_listing::Action;
use achex_store::NewAttachment;
use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;

fn unsupported(message: &str) -> ApiError {
    ApiError::BadRequest {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        message: message.into(),
    }
}

/// Attach a PDF (multipart field `file`, at most 20 MiB) to a draft or rejected listing.
#[utoipa::path(post, path = "/api/v1/listings/{id}/attachments", tag = "listings", security(("bearer" = [])),
    params(("id" = ListingId, Path)),
    request_body(content_type = "multipart/form-data", description = "a `file` part holding a PDF"),
    responses((status = 201, body = AttachmentView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "listing_not_editable"),
              (status = 413, body = ErrorEnvelope), (status = 415, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn upload(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ListingId>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let listing = visible_listing(&state, Some(&user.0), id.into_inner()).await?;
    if !is_owner(&user.0, &listing) {
        return Err(ApiError::forbidden("not_owner", "only the owning institute may attach files"));
    }
    // Files are part of what reviewers approve: they change only while the listing is editable.
    listing.status.apply(Action::Edit)?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(unsupported("send the file as multipart/form-data"));
    }
    let mut multipart = Multipart::new(req.headers(), payload);
    let limit = state.blobs.max_bytes;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| ApiError::bad_request("malformed_multipart", e.to_string()))?;
        if field.name() != Some("file") {
            // Drain and ignore anything else, but do not let it become a way around the limit.
            let mut seen = 0u64;
            while let Some(chunk) = field.next().await {
                seen += chunk.map_err(|e| ApiError::bad_request("malformed_multipart", e.to_string()))?.len() as u64;
                if seen > 64 * 1024 {
                    return Err(ApiError::PayloadTooLarge { limit_bytes: 64 * 1024 });
                }
            }
            continue;
        }
        let raw_name = field.content_disposition().and_then(|cd| cd.get_filename()).unwrap_or("").to_owned();
        let file_name = safe_file_name(&raw_name).ok_or_else(|| {
            ApiError::validation(
                "file",
                "invalid_file_name",
                "a plain file name without directories or control characters",
            )
        })?;
        let mut pending = state.blobs.begin().await.map_err(ApiError::internal)?;
        let mut failure = None;
        while let Some(chunk) = field.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    failure = Some(ApiError::bad_request("malformed_multipart", e.to_string()));
                    break;
                }
            };
            if pending.size() + chunk.len() as u64 > limit {
                failure = Some(ApiError::PayloadTooLarge { limit_bytes: limit });
                break;
            }
            if let Err(e) = pending.write(&chunk).await {
                failure = Some(ApiError::internal(e));
                break;
            }
            if pending.head().len() >= 5 && !looks_like_pdf(pending.head()) {
                failure = Some(unsupported("only PDF files are accepted"));
                break;
            }
        }
        if failure.is_none() && !looks_like_pdf(pending.head()) {
            failure = Some(unsupported("only PDF files are accepted"));
        }
        if let Some(error) = failure {
            pending.abort().await;
            return Err(error);
        }
        let (sha256, size) = state.blobs.commit(pending).await.map_err(ApiError::internal)?;
        let now = state.clock.now();
        let entry = audit_attachment(&listing, &user.0, &file_name, now);
        let attachment = state
            .store
            .insert_attachment(
                NewAttachment {
                    listing_id: listing.id,
                    sha256,
                    file_name,
                    size: size as i64,
                    content_type: "application/pdf".into(),
                    uploaded_by: user.id(),
                },
                &entry,
                now,
            )
            .await?;
        return Ok(HttpResponse::Created().json(AttachmentView::from(attachment)));
    }
    Err(ApiError::validation("file", "required", "send the PDF in a multipart field named 'file'"))
}

/// RFC 6266 / 5987 `Content-Disposition` with an ASCII fallback and the exact UTF-8 name.
fn content_disposition(file_name: &str) -> String {
    let fallback: String =
        file_name.chars().map(|c| if c.is_ascii_alphanumeric() || "._- ".contains(c) { c } else { '_' }).collect();
    let mut encoded = String::new();
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Download an attachment of a listing the caller may see.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "listings", params(("id" = AttachmentId, Path)),
    responses((status = 200, content_type = "application/pdf", description = "the PDF"), (status = 404, body = ErrorEnvelope)))]
pub async fn download(
    state: web::Data<AppState>,
    user: MaybeUser,
    id: web::Path<AttachmentId>,
) -> Result<HttpResponse, ApiError> {
    let attachment = state.store.attachment(id.into_inner()).await?;
    visible_listing(&state, user.0.as_ref(), attachment.listing_id).await?;
    let path = state.blobs.path_of(&attachment.sha256).ok_or(ApiError::internal("stored hash is malformed"))?;
    let bytes = tokio::fs::read(&path).await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&attachment.file_name)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=0"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn non_ascii_names_survive_in_the_extended_parameter() {
        let header = content_disposition("说明书.pdf");
        assert!(header.starts_with("attachment; filename=\"___.pdf\""), "{header}");
        assert!(header.ends_with("filename*=UTF-8''%E8%AF%B4%E6%98%8E%E4%B9%A6.pdf"), "{header}");
    }

    #[test]
    fn quotes_cannot_break_out_of_the_header() {
        assert!(content_disposition("a\"b.pdf").contains("filename=\"a_b.pdf\""));
    }
}
