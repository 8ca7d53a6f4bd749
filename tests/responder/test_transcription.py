"""``input.transcribe``: the OpenAI audio API when configured, else 501 saying what to set."""

import base64
import json

import pytest
from chatkit.types import AudioInput
from pydantic import SecretStr

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import ServiceUnavailableError
from chatkit_backend.responder import Transcriber, transcriber_from_settings
from chatkit_backend.settings import Settings, SettingsError
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.responder.conftest import live_app, model_settings

AUDIO = b"\x1aE\xdf\xa3fake-webm-bytes"


def transcribe_body() -> dict[str, object]:
    return {
        "type": "input.transcribe",
        "params": {
            "audio_base64": base64.b64encode(AUDIO).decode(),
            "mime_type": "audio/webm;codecs=opus",
        },
    }


def test_transcription_goes_to_the_audio_api(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(transcript="  Hallo Welt  "))
    settings = model_settings("openai", fake, transcription_model="gpt-4o-mini-transcribe")
    with live_app(settings) as app:
        response = app.post(transcribe_body(), headers={"Accept-Language": "de-DE,de;q=0.9"})

    assert response.status_code == 200
    assert json.loads(response.content) == {"text": "Hallo Welt"}
    [request] = fake.requests_to("/audio/transcriptions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert AUDIO in request.body
    assert b'filename="audio.webm"' in request.body
    assert b"gpt-4o-mini-transcribe" in request.body
    assert b'name="language"\r\n\r\nde' in request.body


def test_transcription_without_a_model_answers_501_saying_what_to_set(
    fake: FakeOpenAIServer,
) -> None:
    with live_app(model_settings("openai", fake)) as app:
        response = app.post(transcribe_body())

    assert response.status_code == 501
    error = json.loads(response.content)["error"]
    assert error["code"] == "not_configured"
    assert error["message"] == (
        "transcription is not configured: set CHATKIT_TRANSCRIPTION_MODEL "
        "(and CHATKIT_MODEL_API_KEY or OPENAI_API_KEY)"
    )


def test_no_transcriber_without_the_setting() -> None:
    assert transcriber_from_settings(Settings(model_api_key=SecretStr("sk-test"))) is None


def test_transcription_model_without_a_key_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        transcriber_from_settings(Settings(transcription_model="whisper-1"))
    assert str(caught.value) == (
        "CHATKIT_TRANSCRIPTION_MODEL needs CHATKIT_MODEL_API_KEY or OPENAI_API_KEY "
        "(or CHATKIT_MODEL_BASE_URL for a server that needs no key)"
    )


async def test_failing_transcription_service_is_a_503(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(status=500))
    transcriber = Transcriber(model_settings("openai", fake, transcription_model="whisper-1"))
    try:
        with pytest.raises(ServiceUnavailableError) as caught:
            await transcriber.transcribe(
                AudioInput(data=AUDIO, mime_type="audio/ogg"),
                RequestContext(user_id="u", request_id="r1"),
            )
    finally:
        await transcriber.aclose()

    assert caught.value.status == 503
    assert (
        caught.value.message
        == "transcription failed: The assistant's model server had an internal error. Try again."
    )
    assert b'filename="audio.ogg"' in fake.requests_to("/audio/transcriptions")[0].body
