"""``CHATKIT_AGENT=module:attribute`` (and ``create_app(agent=...)``): your own agent.

A module shaped like an exported Agent Builder workflow (two agents with a handoff, a
function tool, an input guardrail) is served by a live ``chatkit-backend serve``; bad
references stop the start with one line; factories get the request context.
"""

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent

from chatkit_backend.context import RequestContext
from chatkit_backend.responder import AgentResponder
from chatkit_backend.responder.loading import AgentLoadError, load_agent
from chatkit_backend.settings import SettingsError
from tests.fakes.openai_server import FakeOpenAIServer, Reply, ToolCall, tool_output_text
from tests.responder.conftest import Stream, live_app, model_settings, user_input
from tests.support.live import clean_env, run_cli, run_serve, sse_events

SAMPLE = Path(__file__).parent / "samples" / "support_workflow.py"
HANDOFF = "transfer_to_billing_agent"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the user's code, importable (as ``serve`` makes the working folder)."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def write_module(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return name


# -- a bad reference stops the start with one line ------------------------------------------
def test_missing_module_is_named(project: Path) -> None:
    with pytest.raises(AgentLoadError) as caught:
        load_agent("no_such_workflow_module:agent")
    assert str(caught.value) == (
        "CHATKIT_AGENT=no_such_workflow_module:agent: module 'no_such_workflow_module' not "
        f"found (looked in {Path.cwd()} and the installed packages)"
    )


def test_a_module_whose_import_fails_says_what_it_needs(project: Path) -> None:
    write_module(project, "needs_guardrails_pkg", "import guardrails_pkg_not_installed\n")
    with pytest.raises(AgentLoadError) as caught:
        load_agent("needs_guardrails_pkg:agent")
    assert str(caught.value) == (
        "CHATKIT_AGENT=needs_guardrails_pkg:agent: importing 'needs_guardrails_pkg' failed: "
        "No module named 'guardrails_pkg_not_installed' (install what it needs)"
    )


def test_a_module_that_raises_on_import_is_one_line(project: Path) -> None:
    write_module(project, "raises_on_import", "raise RuntimeError('OPENAI_API_KEY\\nis missing')\n")
    with pytest.raises(AgentLoadError) as caught:
        load_agent("raises_on_import:agent")
    assert str(caught.value) == (
        "CHATKIT_AGENT=raises_on_import:agent: importing 'raises_on_import' failed: "
        "RuntimeError: OPENAI_API_KEY is missing"
    )


def test_missing_attribute_lists_the_modules_agents(project: Path) -> None:
    write_module(
        project,
        "two_agents",
        """
        from agents import Agent
        triage = Agent(name="Triage")
        billing = Agent(name="Billing")
        """,
    )
    with pytest.raises(AgentLoadError) as caught:
        load_agent("two_agents:agent")
    assert str(caught.value) == (
        "CHATKIT_AGENT=two_agents:agent: module 'two_agents' has no attribute 'agent' "
        "(its agents: billing, triage)"
    )


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("NAME", "is a str, not an Agent nor a function (context) -> Agent"),
        ("Helper", "is a type, not an Agent nor a function (context) -> Agent"),
        (
            "no_arguments",
            "is a function that cannot be called with one argument (the request context): "
            "an agent factory is (context) -> Agent",
        ),
        (
            "run_workflow",
            "is an Agent Builder workflow entry point (it takes a WorkflowInput), not an agent: "
            "name the agent it runs first, or a function (context) -> Agent "
            "(see docs/agent-builder.md)",
        ),
    ],
)
def test_something_that_is_not_an_agent_is_refused(
    project: Path, attribute: str, message: str
) -> None:
    write_module(
        project,
        "not_agents",
        """
        from pydantic import BaseModel
        NAME = "assistant"
        class Helper: ...
        def no_arguments(): ...
        class WorkflowInput(BaseModel):
            input_as_text: str
        async def run_workflow(workflow_input: WorkflowInput): ...
        """,
    )
    with pytest.raises(AgentLoadError) as caught:
        load_agent(f"not_agents:{attribute}")
    assert str(caught.value) == f"CHATKIT_AGENT=not_agents:{attribute}: {message}"


def test_a_reference_without_a_colon_is_a_settings_error() -> None:
    from chatkit_backend.settings import load_settings

    with pytest.raises(SettingsError) as caught:
        load_settings(agent="workflow")
    assert str(caught.value) == (
        "invalid settings:\n  CHATKIT_AGENT: must be module:attribute, e.g. workflow:agent "
        "(got 'workflow')"
    )


@pytest.mark.parametrize(
    ("reference", "line"),
    [
        ("missing_mod:agent", "module 'missing_mod' not found"),
        ("support_workflow:agent", "module 'support_workflow' has no attribute 'agent'"),
        ("support_workflow:run_workflow", "is an Agent Builder workflow entry point"),
    ],
)
def test_serve_stops_with_one_line(tmp_path: Path, reference: str, line: str) -> None:
    shutil.copy(SAMPLE, tmp_path / "support_workflow.py")
    result = run_cli(
        ["serve"],
        {"CHATKIT_DATA_DIR": str(tmp_path / "data"), "CHATKIT_AGENT": reference, "COLUMNS": "500"},
        cwd=tmp_path,
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: CHATKIT_AGENT={reference}: ")
    assert line in lines[0]


def test_the_installed_command_imports_from_the_working_folder(tmp_path: Path) -> None:
    """``chatkit-backend`` (the console script, whose import path does not hold the working
    folder, unlike ``python -m``) finds the module there, as uvicorn does."""
    shutil.copy(SAMPLE, tmp_path / "support_workflow.py")
    command = Path(sys.executable).parent / "chatkit-backend"
    env = clean_env(
        {"CHATKIT_DATA_DIR": str(tmp_path / "data"), "CHATKIT_AGENT": "support_workflow:nope"}
    )
    result = subprocess.run(
        [str(command), "serve"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "error: CHATKIT_AGENT=support_workflow:nope: module 'support_workflow' has no "
        "attribute 'nope' (its agents: billing_agent, triage_agent)"
    )


# -- factories and create_app(agent=...) -----------------------------------------------------
def test_create_app_takes_a_module_attribute_string(project: Path, fake: FakeOpenAIServer) -> None:
    shutil.copy(SAMPLE, project / "support_workflow.py")
    with live_app(model_settings("openai", fake), agent="support_workflow:triage_agent") as app:
        stream = app.create_thread("hello")

    assert stream.assistant_text == "Hello from the fake model."
    body = fake.model_requests[-1].json()
    assert body["model"] == "gpt-4.1-mini"
    assert body["instructions"].startswith("You greet the customer")


def test_a_sync_factory_gets_the_request_context(project: Path, fake: FakeOpenAIServer) -> None:
    shutil.copy(SAMPLE, project / "support_workflow.py")
    settings = model_settings("openai", fake, agent="support_workflow:agent_for")
    with live_app(settings) as app:
        app.create_thread("hello", headers={"X-User-Id": "ignored-in-none-mode"})

    assert fake.model_requests[-1].json()["instructions"].endswith("The customer's id is local.")


def test_an_async_factory_is_awaited_per_reply(fake: FakeOpenAIServer) -> None:
    seen: list[str] = []

    async def agent_for(context: RequestContext) -> Agent[Any]:
        seen.append(context.request_id)
        return Agent(name="Per user", instructions=f"Serve {context.user_id}.")

    with live_app(model_settings("openai", fake), agent=agent_for) as app:
        first = app.create_thread("one")
        second = app.create_thread("two")

    assert seen == [first.request_id, second.request_id]
    assert fake.model_requests[-1].json()["instructions"] == "Serve local."


def test_a_factory_that_returns_no_agent_is_a_500_before_any_stream(
    fake: FakeOpenAIServer,
) -> None:
    with live_app(model_settings("openai", fake), agent=lambda context: "not an agent") as app:
        response = app.post({"type": "threads.create", "params": {"input": user_input("hi")}})
        threads = app.post({"type": "threads.list", "params": {}}).json()["data"]

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "internal_error"
    assert threads == []  # nothing written
    assert fake.model_requests == []


def test_a_factory_refusing_a_user_answers_its_own_status_before_any_stream(
    fake: FakeOpenAIServer,
) -> None:
    """A factory may raise a ``BackendError``: it is the answer, as any other error is."""
    from chatkit_backend.errors import ForbiddenError

    calls: list[str] = []

    def agent_for(context: RequestContext) -> Agent[Any]:
        calls.append(context.request_id)
        if len(calls) > 1:
            raise ForbiddenError("this plan has no assistant")
        return Agent(name="Per user", instructions="Be brief.")

    with live_app(model_settings("openai", fake), agent=agent_for) as app:
        first = app.create_thread("one")
        refused = app.post(
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": first.thread_id, "input": user_input("two")},
            }
        )
        items = app.items(first.thread_id)

    assert first.assistant_text == "Hello from the fake model."
    assert calls[0] == first.request_id and len(calls) == 2  # once per request
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "forbidden",
        "message": "this plan has no assistant",
        "request_id": refused.headers["x-request-id"],
    }
    assert [item["type"] for item in items] == ["user_message", "assistant_message"]
    assert len(fake.model_requests) == 1


def test_a_request_refused_by_its_checks_never_calls_the_factory(
    fake: FakeOpenAIServer,
) -> None:
    """A missing thread is a 404 whatever the factory would say, and costs no call."""
    from chatkit_backend.errors import ForbiddenError

    calls: list[str] = []

    def agent_for(context: RequestContext) -> Agent[Any]:
        calls.append(context.request_id)
        raise ForbiddenError("never asked")

    with live_app(model_settings("openai", fake), agent=agent_for) as app:
        missing = app.post(
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": "thr_nope", "input": user_input("hi")},
            }
        )
        retried = app.post(
            {
                "type": "threads.retry_after_item",
                "params": {"thread_id": "thr_nope", "item_id": "msg_nope"},
            }
        )

    assert (missing.status_code, retried.status_code) == (404, 404)
    assert calls == []


def test_chatkit_tools_are_merged_into_the_users_agent(
    project: Path, fake: FakeOpenAIServer
) -> None:
    shutil.copy(SAMPLE, project / "support_workflow.py")
    settings = model_settings(
        "openai",
        fake,
        agent="support_workflow:triage_agent",
        tools='[{"type": "web_search", "id": "search"}]',
    )
    with live_app(settings) as app:
        app.stream(
            {
                "type": "threads.create",
                "params": {
                    "input": user_input("hi", inference_options={"tool_choice": {"id": "search"}})
                },
            }
        )

    body = fake.model_requests[-1].json()
    assert sorted(tool.get("name", tool["type"]) for tool in body["tools"]) == [
        HANDOFF,
        "web_search",
    ]
    assert body["tool_choice"] == {"type": "web_search"}


def test_an_agent_without_model_or_instructions_gets_the_settings(fake: FakeOpenAIServer) -> None:
    responder = AgentResponder(
        model_settings("openai", fake, instructions="Be brief."), agent=Agent(name="Bare")
    )
    assert responder.agent is not None
    assert responder.agent.instructions == "Be brief."
    assert responder.agent.model is responder.model


# -- the exported workflow, end to end over HTTP -------------------------------------------
@pytest.fixture
def served_workflow(tmp_path: Path, fake: FakeOpenAIServer) -> Iterator[str]:
    """``chatkit-backend serve`` in a folder holding the workflow, with CHATKIT_AGENT set."""
    shutil.copy(SAMPLE, tmp_path / "support_workflow.py")
    env = {
        "CHATKIT_DATA_DIR": str(tmp_path / "data"),
        "CHATKIT_AGENT": "support_workflow:triage_agent",
        "CHATKIT_MODEL": "openai:gpt-4.1-mini",
        "CHATKIT_MODEL_BASE_URL": fake.url,
        "CHATKIT_MODEL_API_KEY": "sk-test",
        "CHATKIT_MODEL_MAX_RETRIES": "0",
        "CHATKIT_LOG_LEVEL": "WARNING",
    }
    with run_serve(env=env, cwd=tmp_path) as (base_url, _process):
        yield base_url


def post_stream(base_url: str, body: dict[str, Any]) -> Stream:
    import httpx

    response = httpx.post(f"{base_url}/chatkit", json=body, timeout=60)
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    return Stream(sse_events(response.text), response.headers.get("x-request-id", ""), 200)


def test_exported_workflow_hands_off_calls_its_tool_and_answers(
    served_workflow: str, fake: FakeOpenAIServer
) -> None:
    fake.enqueue(
        Reply(text="", tool_calls=(ToolCall(HANDOFF, {}, "call_handoff"),)),
        Reply(text="", tool_calls=(ToolCall("lookup_invoice", {"invoice_id": "INV-7"}, "call_t"),)),
        Reply(answer=lambda body: f"Your {tool_output_text(body)}."),
    )

    stream = post_stream(
        served_workflow,
        {"type": "threads.create", "params": {"input": user_input("Was invoice INV-7 paid?")}},
    )

    assert stream.of_type("error") == []
    assert stream.assistant_text == "Your invoice INV-7: 42.00 EUR, paid on 3 March."
    triage, billing, answer = (request.json() for request in fake.model_requests)
    assert triage["model"] == "gpt-4.1-mini"
    assert triage["instructions"].startswith("You greet the customer")
    assert [tool["name"] for tool in triage["tools"]] == [HANDOFF]
    assert billing["model"] == "gpt-4.1"
    assert billing["instructions"].startswith("You answer billing questions")
    assert [tool["name"] for tool in billing["tools"]] == ["lookup_invoice"]
    assert answer["instructions"] == billing["instructions"]


def test_exported_workflow_guardrail_refuses_a_card_number(
    served_workflow: str, fake: FakeOpenAIServer
) -> None:
    stream = post_stream(
        served_workflow,
        {
            "type": "threads.create",
            "params": {"input": user_input("My card is 4111 1111 1111 1111, refund me")},
        },
    )

    assert stream.error["message"] == "The assistant cannot help with this request."
    assert stream.error["allow_retry"] is False
    assert stream.of_type("thread.created")  # the thread and the user's message stay
    assert not [
        event
        for event in stream.of_type("thread.item.done")
        if event["item"]["type"] == "assistant_message"
    ]


def test_start_line_names_the_agent(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    shutil.copy(SAMPLE, tmp_path / "support_workflow.py")
    env = {
        "CHATKIT_DATA_DIR": str(tmp_path / "data"),
        "CHATKIT_AGENT": "support_workflow:triage_agent",
        "CHATKIT_TOOLS": json.dumps([{"type": "web_search"}]),
        "CHATKIT_MODEL": "openai:gpt-4.1-mini",
        "CHATKIT_MODEL_BASE_URL": fake.url,
    }
    with run_serve(env=env, cwd=tmp_path) as (_base_url, process):
        assert process.stdout is not None
        line = process.stdout.readline()

    assert line.startswith("chatkit-backend listening on ")
    assert (
        f"| model: openai:gpt-4.1-mini at {fake.url} (Responses API) "
        "| agent: support_workflow:triage_agent | tools: web_search" in line
    )
