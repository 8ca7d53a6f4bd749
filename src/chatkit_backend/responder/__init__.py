"""The assistant: an Agents SDK agent streamed into ChatKit events.

``AgentResponder`` is what ``BackendServer.respond`` delegates to; ``Transcriber``
answers ``input.transcribe``; ``OfflineModel`` is the built-in network-free model.
"""

from chatkit_backend.responder.agent import AgentResponder
from chatkit_backend.responder.converter import (
    AttachmentReader,
    BackendThreadItemConverter,
    current_request_context,
)
from chatkit_backend.responder.failures import ModelFailure, classify
from chatkit_backend.responder.guard import ModelTimeoutError, TimeoutModel
from chatkit_backend.responder.models import ModelChoice, model_choice
from chatkit_backend.responder.offline import OfflineModel
from chatkit_backend.responder.transcription import Transcriber, transcriber_from_settings

__all__ = [
    "AgentResponder",
    "AttachmentReader",
    "BackendThreadItemConverter",
    "ModelChoice",
    "ModelFailure",
    "ModelTimeoutError",
    "OfflineModel",
    "TimeoutModel",
    "Transcriber",
    "classify",
    "current_request_context",
    "model_choice",
    "transcriber_from_settings",
]
