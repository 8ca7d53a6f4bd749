"""Errors of moving data in (hosted import, ``db copy``, ``threads import``).

    BackendError
    ├── TransferError (500, transfer_failed)           a copy that could not finish
    │   ├── TransferUsageError (400, transfer_usage)   cannot run as asked (exit 2)
    │   ├── HostedAPIError (502, hosted_api_error)     hosted ChatKit refused or failed
    │   └── CopyVerificationError (500, copy_unverified)  counts differ after a copy
    └── InvalidRequestError
        └── InvalidRecordError (422, invalid_record)   a line of an import file

The CLI prints each as one ``error:`` line. Configuration mistakes (a bad URL, the same
database on both sides) are ``DatabaseURLError`` or ``TransferUsageError`` (exit 2).
These errors belong to the command line: no route raises them.
"""

from chatkit_backend.errors import BackendError, InvalidRequestError


class TransferError(BackendError):
    """A copy or import that could not finish; what was written so far stays (reruns resume)."""

    status = 500
    code = "transfer_failed"


class TransferUsageError(TransferError):
    """The command cannot run as asked (same source and target, memory://, ...)."""

    status = 400
    code = "transfer_usage"


class HostedAPIError(TransferError):
    """Hosted ChatKit refused the key, or kept failing after the retries."""

    status = 502
    code = "hosted_api_error"


class CopyVerificationError(TransferError):
    """After a copy, the target does not hold every row of the source."""

    code = "copy_unverified"


class InvalidRecordError(InvalidRequestError):
    """A line of a ``threads import`` file that is not a thread record; names line and field."""

    code = "invalid_record"
