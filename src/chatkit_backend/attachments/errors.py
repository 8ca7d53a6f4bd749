"""Errors only attachments raise (the rest come from ``chatkit_backend.errors``)."""

from chatkit_backend.errors import BackendError, ConflictError, ServiceUnavailableError


class UploadTokenError(BackendError):
    """An upload URL whose token is missing, forged, for another attachment, or expired."""

    status = 403
    code = "invalid_upload_token"


class AttachmentInUseError(ConflictError):
    """An attachment already sent in one thread, sent again in another (409).

    An attachment belongs to the thread it was first sent in: deleting that thread removes
    its file, so another thread must not point at it. Attach the file again instead.
    """

    code = "attachment_in_use"


class StorageUnavailableError(ServiceUnavailableError):
    """The attachment storage (the S3 bucket) did not answer, or refused our credentials (503)."""

    code = "storage_unavailable"
