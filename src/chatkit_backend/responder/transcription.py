"""``Transcriber``: ``input.transcribe`` through the OpenAI audio transcription API.

Configured by ``CHATKIT_TRANSCRIPTION_MODEL``; the server and key are the model's
(``CHATKIT_MODEL_BASE_URL``, ``CHATKIT_MODEL_API_KEY`` or ``OPENAI_API_KEY``). Unset, the
server answers 501 (``transcriber_from_settings`` returns None).
"""

import logging
from typing import Any

import openai
from chatkit.types import AudioInput, TranscriptionResult
from openai import AsyncOpenAI

from chatkit_backend.errors import ServiceUnavailableError
from chatkit_backend.responder.context_items import primary_language
from chatkit_backend.responder.failures import classify, describe_error
from chatkit_backend.responder.models import NO_KEY_PLACEHOLDER
from chatkit_backend.settings import Settings, SettingsError

logger = logging.getLogger("chatkit_backend.responder")

AUDIO_EXTENSIONS = {
    "audio/webm": "webm",
    "audio/ogg": "ogg",
    "audio/mp4": "mp4",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
}


class Transcriber:
    """Sends audio to the transcription API and returns its text."""

    def __init__(self, settings: Settings) -> None:
        if settings.transcription_model is None:
            raise SettingsError("CHATKIT_TRANSCRIPTION_MODEL is not set")
        if settings.model_api_key is None and settings.model_base_url is None:
            raise SettingsError(
                "CHATKIT_TRANSCRIPTION_MODEL needs CHATKIT_MODEL_API_KEY or OPENAI_API_KEY "
                "(or CHATKIT_MODEL_BASE_URL for a server that needs no key)"
            )
        self.model = settings.transcription_model
        key = (
            settings.model_api_key.get_secret_value()
            if settings.model_api_key
            else NO_KEY_PLACEHOLDER
        )
        self.client = AsyncOpenAI(
            api_key=key,
            base_url=settings.model_base_url,
            max_retries=settings.model_max_retries,
            timeout=settings.model_first_token_timeout + settings.model_idle_timeout,
        )

    async def transcribe(self, audio_input: AudioInput, context: Any) -> TranscriptionResult:
        media_type = audio_input.media_type.lower()
        filename = f"audio.{AUDIO_EXTENSIONS.get(media_type, 'webm')}"
        options: dict[str, Any] = {}
        language = primary_language(getattr(context, "locale", None))
        if language is not None and len(language) == 2:
            options["language"] = language
        try:
            result = await self.client.audio.transcriptions.create(
                model=self.model,
                file=(filename, audio_input.data, media_type),
                **options,
            )
        except openai.OpenAIError as exc:
            failure = classify(exc)
            logger.warning(
                "transcription failed: %s: %s",
                failure.code,
                describe_error(exc),
                extra={"request_id": getattr(context, "request_id", ""), "failure": failure.code},
            )
            raise ServiceUnavailableError(f"transcription failed: {failure.message}") from None
        return TranscriptionResult(text=result.text.strip())

    async def aclose(self) -> None:
        await self.client.close()


def transcriber_from_settings(settings: Settings) -> Transcriber | None:
    """A ``Transcriber`` when ``CHATKIT_TRANSCRIPTION_MODEL`` is set, else None."""
    if settings.transcription_model is None:
        return None
    return Transcriber(settings)
