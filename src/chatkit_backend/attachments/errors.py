"""Errors only attachments raise (the rest come from ``chatkit_backend.errors``)."""

from chatkit_backend.errors import BackendError


class UploadTokenError(BackendError):
    """An upload URL whose token is missing, forged, for another attachment, or expired."""

    status = 403
    code = "invalid_upload_token"
