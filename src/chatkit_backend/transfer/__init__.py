"""Moving data in: hosted ChatKit history, store-to-store copies, thread export and import.

- ``records``: the thread record, one JSON line of ``threads export``/``threads import``.
- ``threads``: records from a store and back into one (``export_record``,
  ``import_record``), and from any SDK ``Store`` (``sdk_store_records``).
- ``files``: attachment bytes by owner and id, in any deployment's storage.
- ``db_copy``: ``copy_database``, every row of one SQL store into another.
- ``hosted``: ``HostedImport``, threads from OpenAI's hosted ChatKit.

The CLI commands (``threads export``/``import``, ``db copy``, ``import hosted``) are thin
layers over these; docs/migrating.md walks through each move.
"""

from chatkit_backend.transfer.errors import (
    CopyVerificationError,
    HostedAPIError,
    InvalidRecordError,
    TransferError,
    TransferUsageError,
)
from chatkit_backend.transfer.files import AttachmentFiles
from chatkit_backend.transfer.records import FeedbackRecord, ThreadRecord, dump_record, parse_record
from chatkit_backend.transfer.threads import export_record, import_record, sdk_store_records

__all__ = [
    "AttachmentFiles",
    "CopyVerificationError",
    "FeedbackRecord",
    "HostedAPIError",
    "InvalidRecordError",
    "ThreadRecord",
    "TransferError",
    "TransferUsageError",
    "dump_record",
    "export_record",
    "import_record",
    "parse_record",
    "sdk_store_records",
]
