"""Prometheus metrics, one registry per app so several apps can live in one process.

Under ``chatkit-backend serve --workers N`` (N > 1) each worker is a process of its own:
``serve`` points prometheus_client's multiprocess mode at a fresh folder
(``PROMETHEUS_MULTIPROC_DIR``) before the workers start, every worker writes its values
there, and ``/metrics``, whichever worker answers it, adds up every worker's
(``multiprocess_dir``; prometheus_client's ``MultiProcessCollector``). The gauge of open
streams is summed over the live workers.

Per reply (``observability/usage.py``): ``chatkit_model_tokens_total{model,kind}`` with
``kind`` one of ``input``, ``output``, ``cached`` (part of input) and ``reasoning`` (part
of output); ``chatkit_model_first_token_seconds{model}``, from the start of the model
run to its first streamed event; ``chatkit_replies_total{model,outcome}`` with
``outcome`` one of ``completed``, ``failed``, ``cancelled``. Per feedback request:
``chatkit_feedback_total{kind}``.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

TOKEN_KINDS = ("input", "output", "cached", "reasoning")
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60)


class Metrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        """``multiprocess_dir``: render every process's values from this folder (the
        process must have started with ``PROMETHEUS_MULTIPROC_DIR`` pointing at it)."""
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "chatkit_requests",
            "HTTP requests by operation and status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "chatkit_request_duration_seconds",
            "Request duration (for streams: until the stream ends), by operation.",
            ["operation"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.open_streams = Gauge(
            "chatkit_open_streams",
            "Event streams currently open.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.model_tokens = Counter(
            "chatkit_model_tokens",
            "Model tokens by model and kind (input, output; cached is part of input, "
            "reasoning part of output), as the model server counted them.",
            ["model", "kind"],
            registry=self.registry,
        )
        self.first_token = Histogram(
            "chatkit_model_first_token_seconds",
            "Seconds from the start of a reply's model run to its first streamed event.",
            ["model"],
            registry=self.registry,
            buckets=FIRST_TOKEN_BUCKETS,
        )
        self.replies = Counter(
            "chatkit_replies",
            "Replies by model and outcome (completed, failed, cancelled).",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "chatkit_feedback",
            "Feedback requests by kind (positive, negative).",
            ["kind"],
            registry=self.registry,
        )

    def observe(self, operation: str, status: int, seconds: float) -> None:
        self.requests.labels(operation, str(status)).inc()
        self.duration.labels(operation).observe(seconds)

    def render(self) -> bytes:
        """The exposition text: this app's registry, or every process's values in
        multiprocess mode."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
