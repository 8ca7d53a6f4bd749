"""Importing threads from OpenAI's hosted ChatKit (Agent Builder) into a store.

``convert`` turns the ``openai`` package's hosted thread and item types into the SDK's;
``importer`` pages through ``client.beta.chatkit.threads`` and writes what is missing;
``attachments`` brings attachment bytes in through the attachment store.
"""

from chatkit_backend.transfer.hosted.importer import HostedImport, ImportSummary

__all__ = ["HostedImport", "ImportSummary"]
