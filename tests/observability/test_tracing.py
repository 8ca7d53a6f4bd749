"""OpenTelemetry: off by default, on through ``OTEL_*``; one trace per reply, exported
over OTLP/HTTP by every worker of ``serve --workers 2`` to a receiver on 127.0.0.1."""

import hashlib
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from chatkit_backend.observability import agents_tracing_enabled, tracing_requested
from chatkit_backend.observability import setup as observability_setup
from chatkit_backend.responder import AgentResponder
from chatkit_backend.settings import Settings
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.observability.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.support.bodies import create_body
from tests.support.live import run_serve, sse_events
from tests.test_startup import START, new_modules

HTTP_CLIENTS = {
    "opentelemetry.instrumentation.httpx",
    "opentelemetry.instrumentation.aiohttp_client",
}
QUESTIONS = ("What is the secret word?", "Tell me the secret again")


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[str]:
    names = []
    parent = by_id.get(span.parent_span_id)
    while parent is not None:
        names.append(parent.name)
        parent = by_id.get(parent.parent_span_id)
    return names


def test_every_reply_is_one_trace_with_request_store_and_generation_spans(
    tmp_path: Path,
) -> None:
    with OTLPReceiver() as receiver, FakeOpenAIServer(Reply(text="It is swordfish")) as fake:
        env = {
            "CHATKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
            "CHATKIT_MODEL": "openai-compatible:fake-model",
            "CHATKIT_MODEL_BASE_URL": fake.url,
            "CHATKIT_ATTACHMENTS": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_SERVICE_NAME": "chatkit-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        with run_serve(env, ["--workers", "2"]) as (base_url, _):
            request_ids = []
            for question in QUESTIONS:
                with httpx.Client(base_url=base_url, timeout=30) as client:  # a new connection each
                    answered = client.post("/chatkit", json=create_body(question))
                assert answered.status_code == 200
                assert any(e["type"] == "thread.item.done" for e in sse_events(answered.text))
                request_ids.append(answered.headers["x-request-id"])
            httpx.get(f"{base_url}/healthz")  # excluded: no span

            def replies_exported(spans: list[ReceivedSpan]) -> bool:
                turns = [span for span in spans if span.name == "chatkit.turn"]
                generations = [span for span in spans if span.name == "generation"]
                servers = [s for s in spans if s.attributes.get("chatkit.operation")]
                called = {s.trace_id for s in spans if s.scope in HTTP_CLIENTS}
                return (
                    len(turns) == 2
                    and len(generations) >= 2
                    and len(servers) == 2
                    and all(turn.trace_id in called for turn in turns)
                )

            spans = receiver.wait_for(replies_exported)

    traces: dict[str, list[ReceivedSpan]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    reply_traces = [
        trace for trace in traces.values() if any(span.name == "chatkit.turn" for span in trace)
    ]
    assert len(reply_traces) == 2  # one trace per reply
    pseudonym = hashlib.sha256(b"local").hexdigest()[:16]
    seen_ids = []
    for trace in reply_traces:
        by_id = {span.span_id: span for span in trace}
        [server] = [span for span in trace if not span.parent_span_id]
        assert server.name == "POST /chatkit"
        assert server.scope == "opentelemetry.instrumentation.fastapi"
        assert server.attributes["chatkit.operation"] == "threads.create"
        assert server.attributes["enduser.pseudo.id"] == pseudonym
        seen_ids.append(server.attributes["chatkit.request_id"])
        assert server.resource["service.name"] == "chatkit-under-test"

        stores = [span for span in trace if span.name.startswith("store.")]
        assert {"store.save_thread", "store.add_thread_item", "store.load_thread_items"} <= {
            span.name for span in stores
        }
        assert all(span.attributes["db.system.name"] == "sqlite" for span in stores)

        [turn] = [span for span in trace if span.name == "chatkit.turn"]
        assert turn.attributes["gen_ai.request.model"] == "fake-model"
        assert turn.attributes["gen_ai.usage.input_tokens"] == 10
        assert turn.attributes["enduser.pseudo.id"] == pseudonym
        generation = next(span for span in trace if span.name == "generation")
        assert generation.scope == "openinference.instrumentation.openai_agents"
        assert generation.attributes["llm.token_count.prompt"] == 10
        assert {"chatkit.turn", "POST /chatkit"} <= set(_ancestors(generation, by_id))
        model_calls = [s for s in trace if s.scope in HTTP_CLIENTS]
        assert model_calls, "the request to the model server has a span in the trace"
        for span in trace:  # the user id is only hashed; prompts and replies stay out
            for value in span.attributes.values():
                assert value != "local"
                assert not any(question in str(value) for question in QUESTIONS)
                assert "swordfish" not in str(value)
    assert sorted(seen_ids) == sorted(request_ids)


def test_a_default_start_loads_no_tracing(tmp_path: Path) -> None:
    modules = new_modules(START, tmp_path)
    loaded = sorted(
        name
        for name in modules
        if name.startswith(("opentelemetry.sdk", "opentelemetry.instrumentation", "openinference"))
        or name == "chatkit_backend.observability.tracing"
    )
    assert loaded == []


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_the_otel_variables_switch_tracing_on(environ: dict[str, str], wanted: bool) -> None:
    assert tracing_requested(environ) is wanted


def test_the_agents_sdk_sends_nothing_to_openai_unless_asked(tmp_path: Path) -> None:
    quiet = Settings(database_url="memory://", data_dir=tmp_path)
    assert not agents_tracing_enabled(quiet)
    responder = AgentResponder(quiet)
    assert responder.run_config.tracing_disabled is True
    assert responder.run_config.trace_include_sensitive_data is False
    opted_in = Settings(
        database_url="memory://", data_dir=tmp_path, openai_tracing=True, trace_content=True
    )
    assert agents_tracing_enabled(opted_in)
    chatty = AgentResponder(opted_in)
    assert chatty.run_config.tracing_disabled is False
    assert chatty.run_config.trace_include_sensitive_data is True


def test_tracing_asked_for_without_the_packages_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert observability_setup.tracing_unavailable(environ) is None  # the test extra has them
    monkeypatch.setattr(
        observability_setup, "_importable", lambda name: not name.startswith("opentelemetry.sdk")
    )
    assert observability_setup.tracing_unavailable(environ) == (
        "OTEL_* variables ask for tracing, but the OpenTelemetry packages are not installed "
        "(no opentelemetry.sdk): pip install 'chatkit-backend[otel]', or unset "
        "OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    assert observability_setup.tracing_unavailable({}) is None


class _LibraryInstrumentor:
    """An instrumentor of a library range given by the test (OpenTelemetry's interface)."""

    def __init__(self, requirement: str) -> None:
        self.requirement = requirement
        self.instrumented = False

    def instrumentation_dependencies(self) -> tuple[str, ...]:
        return (self.requirement,)

    def instrument(self) -> None:
        self.instrumented = True


def test_a_library_newer_than_its_instrumentation_is_skipped_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLAlchemy 2.1 with opentelemetry-instrumentation-sqlalchemy 0.66: no "nothing can be
    instrumented" error on every start, only a DEBUG line."""
    from chatkit_backend.observability.tracing import instrument_if_supported

    too_new = _LibraryInstrumentor("sqlalchemy >= 1.0.0, < 1.0.1")
    supported = _LibraryInstrumentor("sqlalchemy >= 1.0.0")
    with caplog.at_level("DEBUG"):
        assert instrument_if_supported(too_new) is False
        assert instrument_if_supported(supported) is True
    assert not too_new.instrumented and supported.instrumented
    assert [record.levelname for record in caplog.records] == ["DEBUG"]
    assert "not instrumenting _LibraryInstrumentor" in caplog.records[0].getMessage()
