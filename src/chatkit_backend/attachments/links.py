"""The URLs this server signs for attachments: upload URLs and image preview URLs.

    <base>/attachments/<id>/upload?token=<token>   two-phase upload through this server
                                                   (disk storage; S3 presigns its own PUT)
    <base>/attachments/<id>/preview?sig=<token>    an image for ``<img src>``

Tokens come from ``TokenSigner`` (``tokens.py``): HMAC-SHA256, bound to one purpose, one
attachment and one owner; upload tokens expire. Presigned bucket URLs are botocore's
(``s3.py``); nothing else signs URLs.
"""

from typing import Any
from urllib.parse import quote

from chatkit_backend.attachments.errors import UploadTokenError
from chatkit_backend.attachments.tokens import TokenClaims, TokenError, TokenSigner
from chatkit_backend.errors import NotFoundError


def not_found(attachment_id: str) -> NotFoundError:
    return NotFoundError(f"attachment {attachment_id!r} not found")


class Links:
    """Builds and checks our signed attachment URLs."""

    def __init__(
        self,
        signer: TokenSigner,
        *,
        upload_token_ttl: int,
        public_url: str | None = None,
        fallback_origin: str = "http://127.0.0.1:8000",
    ) -> None:
        self.signer = signer
        self.upload_token_ttl = upload_token_ttl
        self.public_url = public_url.rstrip("/") if public_url else None
        self.fallback_origin = fallback_origin.rstrip("/")

    def base_url(self, context: Any) -> str:
        """The externally visible base URL: the context's, ``CHATKIT_PUBLIC_URL``, or the request's."""
        base = getattr(context, "base_url", "") or self.public_url
        if not base:
            request = getattr(context, "request", None)
            base = str(request.base_url) if request is not None else self.fallback_origin
        return str(base).rstrip("/")

    # -- uploads -----------------------------------------------------------------------------
    def upload_url(self, base: str, attachment_id: str, user_id: str) -> str:
        """A two-phase upload URL valid ``CHATKIT_UPLOAD_TOKEN_TTL`` seconds."""
        token = self.signer.sign("upload", attachment_id, user_id, ttl=self.upload_token_ttl)
        return f"{base}/attachments/{quote(attachment_id)}/upload?token={token}"

    def upload_claims(self, token: str, attachment_id: str) -> TokenClaims:
        """The claims of a genuine, unexpired upload token for this attachment (403 otherwise)."""
        claims = self._verified_upload_token(token)
        if claims.attachment_id != attachment_id:
            raise UploadTokenError("upload token is for another attachment")
        return claims

    def check_upload_token(self, token: str, attachment_id: str, user_id: str) -> None:
        """403 for a bad token; 404 (as for a missing attachment) for another owner's."""
        claims = self._verified_upload_token(token)
        if claims.user_id != user_id:
            raise not_found(attachment_id)
        if claims.attachment_id != attachment_id:
            raise UploadTokenError("upload token is for another attachment")

    def _verified_upload_token(self, token: str) -> TokenClaims:
        if not token:
            raise UploadTokenError("upload URL has no token: use the URL from attachments.create")
        try:
            return self.signer.verify(token, "upload")
        except TokenError as exc:
            if str(exc) == "expired":
                raise UploadTokenError(
                    f"upload token expired (upload URLs are valid for {self.upload_token_ttl} "
                    "seconds, CHATKIT_UPLOAD_TOKEN_TTL): create the attachment again"
                ) from None
            raise UploadTokenError("upload token is invalid") from None

    # -- previews ----------------------------------------------------------------------------
    def preview_url(self, base: str, attachment_id: str, user_id: str) -> str:
        """A preview URL: valid while the attachment exists (the signature never expires)."""
        signature = self.signer.sign("preview", attachment_id, user_id)
        return f"{base}/attachments/{quote(attachment_id)}/preview?sig={signature}"

    def preview_owner(self, signature: str, attachment_id: str) -> str:
        """The owner a preview signature was made for; 404 for any bad signature."""
        try:
            claims = self.signer.verify(signature, "preview")
        except TokenError:
            raise not_found(attachment_id) from None
        if claims.attachment_id != attachment_id:
            raise not_found(attachment_id)
        return claims.user_id
