"""``/metrics`` under ``serve --workers 2``: whichever worker answers, it adds up every
worker's counts (prometheus_client's multiprocess mode, in a folder of the run's own)."""

import os
from pathlib import Path

import httpx
import pytest

from chatkit_backend.metrics import Metrics
from chatkit_backend.observability.setup import metrics_across_workers, per_process_quotas_warning
from chatkit_backend.settings import Settings
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.observability.support import sample
from tests.support.bodies import create_body
from tests.support.live import run_serve, sse_events
from tests.support.wait import poll

REPLIES = (
    Reply(text="one two", input_tokens=100, cached_tokens=30, output_tokens=12, reasoning_tokens=4),
    Reply(text="three", input_tokens=200, cached_tokens=50, output_tokens=8, reasoning_tokens=1),
)
EXPECTED = {"input": 300.0, "cached": 80.0, "output": 20.0, "reasoning": 5.0}


def _totals(text: str) -> dict[str, float | None]:
    return {
        kind: sample(text, "chatkit_model_tokens_total", model="fake-model", kind=kind)
        for kind in EXPECTED
    }


def test_token_counters_add_up_across_workers(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    with FakeOpenAIServer() as fake:
        fake.enqueue(*REPLIES)
        env = {
            "CHATKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
            "CHATKIT_MODEL": "openai:fake-model",
            "CHATKIT_MODEL_BASE_URL": fake.url,
            "CHATKIT_MODEL_API_KEY": "sk-test",
            "CHATKIT_ATTACHMENTS": "false",
            "TMPDIR": str(temp),
        }
        with run_serve(env, ["--workers", "2"]) as (base_url, _):
            [folder] = list(temp.glob("chatkit-metrics-*"))  # the run's own, fresh
            for index in range(2):
                with httpx.Client(base_url=base_url, timeout=30) as client:  # new connections
                    answered = client.post("/chatkit", json=create_body(f"question {index}"))
                assert answered.status_code == 200
                assert sse_events(answered.text)[-1]["type"] != "error"

            def added_up() -> str | None:
                with httpx.Client(base_url=base_url, timeout=10) as client:
                    text = client.get("/metrics").text
                return text if _totals(text) == EXPECTED else None

            text = poll(added_up, "both replies' tokens in /metrics")
            readings = []
            for _ in range(6):  # new connections: any worker may answer, each adds up both
                with httpx.Client(base_url=base_url, timeout=10) as client:
                    readings.append(client.get("/metrics").text)
            # Both workers write there (files are named <kind>_<pid>.db).
            pids = {path.stem.rsplit("_", 1)[-1] for path in folder.glob("*.db")}
            assert len(pids) == 2, sorted(path.name for path in folder.iterdir())
    assert all(_totals(reading) == EXPECTED for reading in readings)
    assert sample(text, "chatkit_replies_total", model="fake-model", outcome="completed") == 2
    assert sample(text, "chatkit_model_first_token_seconds_count", model="fake-model") == 2
    assert sample(text, "chatkit_open_streams") == 0  # summed over the live workers
    assert not folder.exists()  # removed when serve ended


def test_one_worker_keeps_its_own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with metrics_across_workers(1) as folder:
        assert folder is None
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics = Metrics()
    metrics.feedback.labels("positive").inc()
    assert sample(metrics.render().decode(), "chatkit_feedback_total", kind="positive") == 1


def test_several_workers_get_a_fresh_folder_removed_afterwards(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "theirs"))
    with metrics_across_workers(3) as folder:
        assert folder is not None and Path(folder).is_dir()
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == folder != str(tmp_path / "theirs")
    assert not Path(folder).exists()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "theirs")


def test_serve_warns_that_quotas_without_redis_are_per_process() -> None:
    quotas = Settings(database_url="memory://", token_quota_per_day=1000)
    assert per_process_quotas_warning(quotas, 1) is None
    assert per_process_quotas_warning(quotas, 4) == (
        "token quotas are counted per process: with 4 workers a user may use up to 4 times "
        "the daily quota. Set CHATKIT_REDIS_URL to share them."
    )
    shared = Settings(
        database_url="memory://", token_quota_per_day=1000, redis_url="redis://127.0.0.1:6379/0"
    )
    assert per_process_quotas_warning(shared, 4) is None
