"""Prometheus metrics, one registry per app so several apps can live in one process."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
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
            "chatkit_open_streams", "Event streams currently open.", registry=self.registry
        )

    def observe(self, operation: str, status: int, seconds: float) -> None:
        self.requests.labels(operation, str(status)).inc()
        self.duration.labels(operation).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
