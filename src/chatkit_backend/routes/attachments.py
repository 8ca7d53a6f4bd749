"""Attachment routes: uploads (two-phase and direct), content, previews, deletion.

    PUT|POST /attachments/{id}/upload?token=...  second phase of a two-phase upload
    POST     /attachments                        direct upload (multipart field ``file``)
    GET      /attachments/{id}/content           the bytes, for the owner only
    GET      /attachments/{id}/preview?sig=...   an image, for a signed preview URL
    DELETE   /attachments/{id}                   remove bytes and row

Anyone but the owner gets 404, exactly as for a missing attachment. With S3 storage,
``content`` and ``preview`` answer 307 to a presigned ``GET`` valid five minutes, made
for the owner only after the same checks.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from chatkit.types import Attachment
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, RedirectResponse

from chatkit_backend.attachments import BackendAttachmentStore, StoredContent
from chatkit_backend.attachments.mime import is_image
from chatkit_backend.attachments.names import content_disposition
from chatkit_backend.attachments.storage import RemoteURL
from chatkit_backend.deps import ContextDep, OptionalContextDep, services_of
from chatkit_backend.errors import BadRequestError, NotConfiguredError

CACHE_CONTROL = "private, max-age=3600"
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"


async def get_attachment_store(request: Request) -> BackendAttachmentStore:
    store = services_of(request).attachment_store
    if not isinstance(store, BackendAttachmentStore):
        raise NotConfiguredError(
            "attachments are not configured on this server (CHATKIT_ATTACHMENTS)"
        )
    return store


AttachmentsDep = Annotated[BackendAttachmentStore, Depends(get_attachment_store)]


async def body_of(request: Request) -> AsyncIterator[bytes]:
    """The request body as it streams; a client that goes away ends it with a quiet 400."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise BadRequestError("upload interrupted: the client disconnected") from None


def attachment_json(attachment: Attachment, status_code: int = 200) -> Response:
    """The attachment as the SDK serializes it: no ``metadata``, no ``null`` fields."""
    body = attachment.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    )
    return Response(body, status_code=status_code, media_type="application/json")


def content_response(request: Request, content: StoredContent) -> Response:
    """The file with its stored type, a safe name, no sniffing, cache headers and an ETag;
    or a redirect to the presigned URL that serves it (never cached: it expires)."""
    attachment = content.attachment
    download = content.download
    if isinstance(download, RemoteURL):
        return RedirectResponse(
            download.url,
            status_code=307,
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )
    inline = is_image(attachment.mime_type)
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Content-Disposition": content_disposition(attachment.name, inline=inline),
    }
    if content.sha256:
        etag = f'"{content.sha256}"'
        headers["ETag"] = etag
        if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
            return Response(
                status_code=304, headers={k: headers[k] for k in ("ETag", "Cache-Control")}
            )
    return FileResponse(
        download.path, media_type=attachment.mime_type, headers=headers, stat_result=download.stat
    )


def build_attachments_router() -> APIRouter:
    router = APIRouter(prefix="/attachments", tags=["attachments"])

    @router.api_route(
        "/{attachment_id}/upload",
        methods=["PUT", "POST"],
        name="attachment_upload",
        response_model=None,
    )
    async def upload(
        attachment_id: str,
        request: Request,
        attachments: AttachmentsDep,
        context: OptionalContextDep,
        token: Annotated[str, Query()] = "",
    ) -> Response:
        """Second phase of a two-phase upload: the raw body or a multipart ``file`` field.

        Credentials are optional here: without them the signed token identifies the owner.
        """
        if context is None:
            context = attachments.upload_context(
                token, attachment_id, request_id=getattr(request.state, "request_id", "")
            )
        attachment = await attachments.upload(
            attachment_id,
            token,
            body_of(request),
            request.headers.get("content-type"),
            context,
            content_length=request.headers.get("content-length"),
        )
        return attachment_json(attachment)

    @router.post("", name="attachment_direct_upload", response_model=None)
    async def direct_upload(
        request: Request, attachments: AttachmentsDep, context: ContextDep
    ) -> Response:
        """Direct upload: a multipart ``file`` field becomes an attachment."""
        attachment = await attachments.direct_upload(
            body_of(request),
            request.headers.get("content-type"),
            context,
            content_length=request.headers.get("content-length"),
        )
        return attachment_json(attachment)

    @router.get("/{attachment_id}/content", name="attachment_content", response_model=None)
    async def content(
        attachment_id: str, request: Request, attachments: AttachmentsDep, context: ContextDep
    ) -> Response:
        return content_response(request, await attachments.open_content(attachment_id, context))

    @router.get("/{attachment_id}/preview", name="attachment_preview", response_model=None)
    async def preview(
        attachment_id: str,
        request: Request,
        attachments: AttachmentsDep,
        sig: Annotated[str, Query()] = "",
    ) -> Response:
        """An image for ``<img src>``: the signed URL is the credential (browsers send no headers)."""
        return content_response(request, await attachments.open_preview(attachment_id, sig))

    @router.delete(
        "/{attachment_id}", name="attachment_delete", status_code=204, response_model=None
    )
    async def delete(
        attachment_id: str, attachments: AttachmentsDep, context: ContextDep
    ) -> Response:
        await attachments.delete(attachment_id, context)
        return Response(status_code=204)

    return router
