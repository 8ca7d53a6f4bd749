"""What ``chatkit-backend serve`` sets up, before its workers start, for observability.

- ``metrics_across_workers``: with several workers, prometheus_client's multiprocess
  mode in a fresh folder of its own (``PROMETHEUS_MULTIPROC_DIR``, inherited by the
  workers, removed when ``serve`` ends), so ``/metrics`` adds up every worker.
- ``tracing_unavailable``: the message for ``OTEL_*`` asking for traces that the
  installed packages cannot send (``pip install 'chatkit-backend[otel]'``).
- ``per_process_quotas_warning``: quotas without Redis, counted per worker.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from importlib.util import find_spec

from chatkit_backend.observability import tracing_requested
from chatkit_backend.settings import Settings

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
TRACING_MODULES = (
    "opentelemetry.sdk",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.instrumentation.fastapi",
    "opentelemetry.instrumentation.httpx",
    "opentelemetry.instrumentation.aiohttp_client",
    "opentelemetry.instrumentation.sqlalchemy",
    "opentelemetry.instrumentation.asyncpg",
    "openinference.instrumentation.openai_agents",
)
"""What tracing imports (the ``otel`` extra)."""


@contextlib.contextmanager
def metrics_across_workers(workers: int) -> Iterator[str | None]:
    """With ``workers`` > 1: a fresh folder in ``PROMETHEUS_MULTIPROC_DIR`` for the block
    (the workers it starts inherit it), removed afterwards with the variable; yields the
    folder. One worker: nothing changes (its metrics live in its registry); yields None.

    A folder of the environment's own is never reused: values left by another run would
    be added to this one's.
    """
    if workers < 2:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="chatkit-metrics-")
    before = os.environ.get(MULTIPROC_VARIABLE)
    os.environ[MULTIPROC_VARIABLE] = folder
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(MULTIPROC_VARIABLE, None)
        else:
            os.environ[MULTIPROC_VARIABLE] = before
        shutil.rmtree(folder, ignore_errors=True)


def tracing_unavailable(environ: Mapping[str, str]) -> str | None:
    """Why tracing that ``environ`` asks for cannot run here (a package missing), or None."""
    if not tracing_requested(environ):
        return None
    missing = [name for name in TRACING_MODULES if not _importable(name)]
    if not missing:
        return None
    return (
        "OTEL_* variables ask for tracing, but the OpenTelemetry packages are not installed "
        f"(no {missing[0]}): pip install 'chatkit-backend[otel]', or unset "
        "OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_ENDPOINT"
    )


def _importable(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def per_process_quotas_warning(settings: Settings, workers: int) -> str | None:
    """Quotas without Redis are per process: say so when several workers share a user."""
    quotas = settings.token_quota_per_day or settings.tenant_token_quota_per_day
    if workers < 2 or not quotas or settings.redis_url:
        return None
    return (
        f"token quotas are counted per process: with {workers} workers a user may use up to "
        f"{workers} times the daily quota. Set CHATKIT_REDIS_URL to share them."
    )
