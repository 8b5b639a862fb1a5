"""Prometheus metrics in the text exposition format (version 0.0.4), without a client library.

Only counters, gauges and histograms with a fixed, small label set are needed, so the exposition is written
here (~150 lines) instead of adding a dependency. Label values come from bounded sets (tool names, status
words, connector types, HTTP codes): nothing a caller controls becomes a label, so the number of series stays
bounded however many requests or migrations the server sees.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
    "ServerMetrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MIGRATION_BUCKETS: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0)

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: Sequence[str]) -> LabelValues:
        if len(labels) != len(self.label_names):
            msg = f"{self.name} takes labels {self.label_names}, got {tuple(labels)}"
            raise ValueError(msg)
        return tuple(str(v) for v in labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A monotonically increasing count per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0) to the series named by ``labels``."""
        if amount < 0:
            msg = "a counter only goes up"
            raise ValueError(msg)
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        """The current value (0 when never incremented)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_fmt(v)}" for k, v in items]


class Gauge(_Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, *labels: str) -> None:
        """Set the series to ``value``."""
        with self._lock:
            self._values[self._key(labels)] = float(value)

    def add(self, amount: float, *labels: str) -> None:
        """Add ``amount`` (may be negative)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        """The current value."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_fmt(v)}" for k, v in items]


class Histogram(_Metric):
    """Observations in cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        """Record one observation."""
        key = self._key(labels)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            total[0] += value

    def count(self, *labels: str) -> int:
        """How many observations the series has."""
        with self._lock:
            series = self._series.get(self._key(labels))
            return sum(series[0]) if series else 0

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._series.items())
        lines: list[str] = []
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = f'le="{_fmt(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {_fmt(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return lines


class Registry:
    """A set of metrics rendered together."""

    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def register(self, metric: _Metric) -> None:
        """Add a metric (names must be unique)."""
        if any(m.name == metric.name for m in self._metrics):
            msg = f"metric {metric.name} is registered twice"
            raise ValueError(msg)
        self._metrics.append(metric)

    def render(self) -> str:
        """The text exposition of every metric."""
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"


_M = TypeVar("_M", bound=_Metric)


class ServerMetrics:
    """Every metric the server exposes (names are what the Grafana dashboard queries)."""

    def __init__(self) -> None:
        self.registry = Registry()
        side = ("source_type", "target_type")
        self.records_read = self._add(Counter("vectormigrate_records_read_total",
                                              "Records read from sources by migrations this server ran.", side))
        self.records_written = self._add(Counter("vectormigrate_records_written_total",
                                                 "Records durably written to targets.", side))
        self.records_failed = self._add(Counter("vectormigrate_records_failed_total",
                                                "Records sent to the dead-letter file.", side))
        self.batches = self._add(Counter("vectormigrate_batches_total", "Source batches committed.", side))
        self.retries = self._add(Counter("vectormigrate_retries_total", "Retried transient failures.", side))
        self.bytes_written = self._add(Counter("vectormigrate_bytes_written_total",
                                               "Bytes of records written to targets.", side))
        self.migrations = self._add(Counter("vectormigrate_migrations_total",
                                            "Migration runs (start or resume) by how they ended.", ("status",)))
        self.migration_duration = self._add(Histogram(
            "vectormigrate_migration_duration_seconds", "Wall time of migration runs by how they ended.",
            ("status",), MIGRATION_BUCKETS))
        self.migrations_running = self._add(Gauge("vectormigrate_migrations_running",
                                                  "Migration runs in progress in this server."))
        self.validations = self._add(Counter("vectormigrate_validations_total", "Validations by result.",
                                             ("result",)))
        self.rollbacks = self._add(Counter("vectormigrate_rollbacks_total", "Rollbacks by result.", ("result",)))
        self.requests = self._add(Counter("vectormigrate_requests_total",
                                          "Tool calls by tool, status (ok, error, crash) and transport.",
                                          ("tool", "status", "transport")))
        self.request_duration = self._add(Histogram("vectormigrate_request_duration_seconds",
                                                    "Tool call latency by tool and status.", ("tool", "status")))
        self.http_responses = self._add(Counter("vectormigrate_http_responses_total",
                                                "HTTP responses by endpoint and status code.", ("endpoint", "code")))
        self.auth_failures = self._add(Counter("vectormigrate_auth_failures_total",
                                               "Requests refused for a missing or wrong key.", ("reason",)))
        self.rate_limited = self._add(Counter("vectormigrate_rate_limited_total",
                                              "Requests refused by the rate limiter."))
        self.ratelimit_tracked = self._add(Gauge("vectormigrate_ratelimit_tracked_keys",
                                                 "Keys/clients the rate limiter currently tracks (bounded)."))
        self.up = self._add(Gauge("vectormigrate_up", "1 while the server runs."))
        self.up.set(1)

    def _add(self, metric: _M) -> _M:
        self.registry.register(metric)
        return metric

    def add_counters(self, source_type: str, target_type: str, delta: dict[str, int]) -> None:
        """Add a migration's counter increments (keys as in ``Counters.as_dict``)."""
        pairs: Iterable[tuple[Counter, str]] = (
            (self.records_read, "records_read"), (self.records_written, "records_written"),
            (self.records_failed, "records_failed"), (self.batches, "batches"), (self.retries, "retries"),
            (self.bytes_written, "bytes_written"))
        for metric, key in pairs:
            amount = delta.get(key, 0)
            if amount > 0:
                metric.inc(source_type, target_type, amount=amount)

    def render(self) -> str:
        """The ``/metrics`` document."""
        return self.registry.render()
