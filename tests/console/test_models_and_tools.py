"""The console's model picker and tool menu, and assistant Markdown, in a real Chromium.

A real ``chatkit-backend serve`` with ``CHATKIT_MODELS`` and ``CHATKIT_TOOLS`` answers
through the fake OpenAI server, so each test checks what the page sent (the model and
tool picked) and how it shows the answer (Markdown, sources, workflow tasks).
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import (
    ChatKitCalls,
    ConsoleWatch,
    open_console,
    screenshot,
    thread_id_of,
    wait_until_idle,
)
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.support.live import run_serve

pytestmark = pytest.mark.browser

MODELS = [
    {"id": "fast", "model": "openai:gpt-4.1-mini", "label": "Fast", "default": True},
    {
        "id": "deep",
        "model": "openai:o4-mini",
        "label": "Deep thought",
        "description": "Reasons before answering",
        "reasoning_effort": "high",
    },
]
TOOLS = [
    {"type": "web_search", "id": "search", "label": "Search the web"},
    {"type": "code_interpreter", "id": "python", "label": "Run Python"},
    {"type": "file_search", "vector_store_ids": ["vs_1"]},  # no id: not in the menu
]
MARKDOWN = """Here is **what I found**:

- first point
- second point with `inline code`

```python
print("hello")
```

| Tool | Kind |
| --- | --- |
| web search | hosted |

See [the docs](https://example.com/docs) or [this](javascript:window.__clicked=1).
<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"""
CITATION = {
    "type": "url_citation",
    "start_index": 10,
    "end_index": 20,
    "url": "https://example.com/source-page",
    "title": "The source page",
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def console_server(
    chromium: Path, fake: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "CHATKIT_CONSOLE": "true",
        "CHATKIT_DATA_DIR": str(tmp_path_factory.mktemp("console-models")),
        "CHATKIT_MODELS": json.dumps(MODELS),
        "CHATKIT_TOOLS": json.dumps(TOOLS),
        "CHATKIT_MODEL_BASE_URL": fake.url,
        "CHATKIT_MODEL_API_KEY": "sk-test",
        "CHATKIT_MODEL_MAX_RETRIES": "0",
        "CHATKIT_LOG_LEVEL": "WARNING",
    }
    with run_serve(env=env) as (base_url, _process):
        yield base_url


def send(page: Page, text: str) -> None:
    page.locator("#message").fill(text)
    page.locator("#message").press("Enter")
    wait_until_idle(page)


def test_picker_and_tool_menu_are_built_from_the_settings(page: Page, console_server: str) -> None:
    open_console(page, console_server)

    picker = page.locator("#model-picker")
    expect(picker).to_be_visible()
    assert picker.locator("option").all_inner_texts() == ["Fast", "Deep thought"]
    assert picker.locator("option").evaluate_all("options => options.map(o => o.value)") == [
        "fast",
        "deep",
    ]
    expect(picker).to_have_value("fast")  # the default entry
    expect(picker.locator("option[value='deep']")).to_have_attribute(
        "title", "Reasons before answering"
    )
    menu = page.locator("#tool-menu")
    expect(menu).to_be_visible()
    assert menu.locator("option").all_inner_texts() == ["Automatic", "Search the web", "Run Python"]
    expect(menu).to_have_value("")


def test_picked_model_and_tool_reach_the_model_and_the_tool_applies_once(
    page: Page, console_server: str, fake: FakeOpenAIServer, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    page.locator("#model-picker").select_option("deep")
    page.locator("#tool-menu").select_option(label="Search the web")

    send(page, "What is new in Python?")

    first = fake.model_requests[-1].json()
    assert first["model"] == "o4-mini"
    assert first["reasoning"] == {"effort": "high"}
    assert first["tool_choice"] == {"type": "web_search"}
    assert {tool["type"] for tool in first["tools"]} == {
        "web_search",
        "code_interpreter",
        "file_search",
    }
    user = page.locator(".item.user").last
    expect(user.locator(".model-tag")).to_have_text("deep")
    expect(user.locator(".tool-tag")).to_have_text("search")
    expect(page.locator("#tool-menu")).to_have_value("")  # a tool choice is for one message
    expect(page.locator("#model-picker")).to_have_value("deep")  # the model stays picked
    screenshot(page, "picker-tool-sent")

    send(page, "And in Rust?")

    second = fake.model_requests[-1].json()
    assert second["model"] == "o4-mini"
    assert "tool_choice" not in second
    thread_id = thread_id_of(page)
    sent = [item for item in calls.items(thread_id) if item["type"] == "user_message"]
    assert [item["inference_options"] for item in sent] == [
        {"model": "deep", "tool_choice": {"id": "search"}},
        {"model": "deep"},
    ]


def test_assistant_markdown_sources_and_reasoning_are_shown(
    page: Page, console_server: str, fake: FakeOpenAIServer
) -> None:
    fake.enqueue(
        Reply(text=MARKDOWN, annotations=(CITATION,), reasoning=("Checking the documentation",))
    )
    open_console(page, console_server)
    send(page, "Show me everything")

    assistant = page.locator(".item.assistant").last
    markdown = assistant.locator(".markdown")
    expect(markdown.locator("strong")).to_have_text("what I found")
    expect(markdown.locator("ul > li")).to_have_count(2)
    expect(markdown.locator("ul > li code")).to_have_text("inline code")
    expect(markdown.locator("pre > code")).to_have_text('print("hello")\n')
    expect(markdown.locator("table th")).to_have_text(["Tool", "Kind"])
    expect(markdown.locator("table td")).to_have_text(["web search", "hosted"])
    link = markdown.locator("a", has_text="the docs")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    # Sanitized: the javascript: link has no href, the HTML is shown as text, nothing ran.
    assert markdown.locator("a", has_text="this").get_attribute("href") is None
    expect(markdown.locator("img, script")).to_have_count(0)
    expect(markdown).to_contain_text('<img src=x onerror="window.__xss=1">')
    assert page.evaluate("() => [window.__xss, window.__clicked]") == [None, None]

    sources = assistant.locator(".sources a")
    expect(sources).to_have_text(["The source page"])
    expect(sources).to_have_attribute("href", "https://example.com/source-page")
    workflow = page.locator(".item.workflow").last
    expect(workflow.locator(".thought-task .task-content")).to_have_text(
        "Checking the documentation"
    )
    screenshot(page, "markdown-sources-reasoning")

    page.reload()  # the stored items render the same way
    assistant = page.locator(".item.assistant").last
    expect(assistant.locator(".markdown table td")).to_have_text(["web search", "hosted"])
    expect(assistant.locator(".sources a")).to_have_text(["The source page"])
    expect(page.locator(".item.workflow .thought-task")).to_have_count(1)


def test_an_unknown_model_is_refused_and_the_draft_is_kept(
    page: Page, console_server: str, fake: FakeOpenAIServer, watch: ConsoleWatch
) -> None:
    watch.expect_http_error(422, f"{console_server}/chatkit")
    open_console(page, console_server)
    before = len(fake.model_requests)
    page.evaluate(
        """() => {
            const picker = document.querySelector('#model-picker');
            picker.append(new Option('Retired', 'retired'));
            picker.value = 'retired';
        }"""
    )
    page.locator("#message").fill("hello")
    page.locator("#message").press("Enter")

    banner = page.locator("#banner")
    expect(banner).to_contain_text(
        "422 invalid_request: params.input.inference_options.model: unknown model 'retired'; "
        "expected one of: fast, deep"
    )
    expect(page.locator("#message")).to_have_value("hello")
    assert len(fake.model_requests) == before
