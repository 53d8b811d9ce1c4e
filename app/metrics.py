"""Prometheus metrics: requests by route, method and status, latency, transitions, and storage
faults.

Counting is plain arithmetic on this process's own numbers. Under gunicorn, gunicorn.conf.py
points PROMETHEUS_MULTIPROC_DIR at a fresh folder before any worker starts; each worker then
copies what a request changed into its own files there (prometheus_client's multiprocess
format) once per request, at the end of the request, before its answer is sent, and
`/metrics` sums every worker's files with prometheus_client's MultiProcessCollector. A
scrape can only come after answers already sent, so it counts every one of them: the
figures are exact, without a file write per increment. Without the folder (dev server,
tests) `/metrics` reads this process's numbers.
"""

import atexit
import os
import threading
import time
from bisect import bisect_left

from flask import Blueprint, Flask, Response
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, REGISTRY, generate_latest,
                               multiprocess)
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from .store.history import transition_accepted, transition_refused

_lock = threading.Lock()  # gthread workers count from several threads
_changed: list = []       # cells changed since the last flush (repeats are harmless)


class _Cell:
    """One number, its key in the multiprocess files and which file ("counter"/"histogram")."""

    __slots__ = ("value", "key", "kind")

    def __init__(self, key: str, kind: str):
        self.value = 0.0
        self.key, self.kind = key, kind


class Counter:
    """A counter with labels, as prometheus_client's; label values are made strings once,
    when a set of them is first seen, as its labels() does."""

    def __init__(self, name: str, documentation: str, labelnames: list[str]):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.base = name[:-len("_total")] if name.endswith("_total") else name
        self.children: dict[tuple, tuple] = {}  # labels as given -> (cell, created, labels)

    def cell(self, labelvalues: tuple) -> _Cell:
        found = self.children.get(labelvalues)
        if found is None:
            labels = tuple(str(v) for v in labelvalues)
            key = mmap_key(self.base, self.base + "_total", self.labelnames, labels,
                           self.documentation)
            found = self.children[labelvalues] = (_Cell(key, "counter"), time.time(), labels)
        return found[0]

    def inc(self, labelvalues: tuple, amount: float = 1.0) -> None:
        """Count; the caller holds _lock."""
        cell = self.cell(labelvalues)
        cell.value += amount
        _changed.append(cell)

    def collect(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.base, self.documentation, labels=self.labelnames)
        for cell, created, labels in self.children.values():
            family.add_metric(labels, cell.value, created=created)
        return family


class Histogram:
    """A histogram with labels, as prometheus_client's (buckets counted one by one, summed
    up when collected)."""

    def __init__(self, name: str, documentation: str, labelnames: list[str], buckets: tuple):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.bounds = tuple(float(b) for b in buckets) + (float("inf"),)
        self.children: dict[tuple, tuple] = {}  # -> (bucket cells, sum cell, created, labels)

    def child(self, labelvalues: tuple) -> tuple:
        found = self.children.get(labelvalues)
        if found is None:
            labels, names = tuple(str(v) for v in labelvalues), self.labelnames + ("le",)
            buckets = [_Cell(mmap_key(self.name, self.name + "_bucket", names,
                                      labels + (floatToGoString(b),), self.documentation),
                             "histogram")
                       for b in self.bounds]
            total = _Cell(mmap_key(self.name, self.name + "_sum", self.labelnames, labels,
                                   self.documentation), "histogram")
            found = self.children[labelvalues] = (buckets, total, time.time(), labels)
            _changed.extend(buckets)  # every bucket is in the file, as prometheus_client does
        return found

    def observe(self, labelvalues: tuple, amount: float) -> None:
        """Count one observation; the caller holds _lock."""
        buckets, total, _, _ = self.child(labelvalues)
        bucket = buckets[bisect_left(self.bounds, amount)]
        bucket.value += 1.0
        total.value += amount
        _changed.append(bucket)
        _changed.append(total)

    def collect(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for buckets, total, created, labels in self.children.values():
            cumulative, running = [], 0.0
            for bound, cell in zip(self.bounds, buckets):
                running += cell.value
                cumulative.append((floatToGoString(bound), running))
            family.add_metric(labels, cumulative, total.value)
            family.samples.append(Sample(self.name + "_created",
                                         dict(zip(self.labelnames, labels)), created))
        return family


REQUESTS = Counter("jobs_http_requests_total", "HTTP requests answered.",
                   ["route", "method", "status"])
LATENCY = Histogram("jobs_http_request_duration_seconds", "Time to answer a request.",
                    ["route", "method"],
                    buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
TRANSITIONS = Counter("jobs_transitions_total", "Status changes asked for, by outcome.",
                      ["kind", "from", "to", "outcome"])
STORAGE_FAULTS = Counter("jobs_storage_faults_total",
                         "Requests answered 503 because the storage failed, by kind of fault.",
                         ["kind"])
_ALL = (REQUESTS, LATENCY, TRANSITIONS, STORAGE_FAULTS)


class _Files:
    """This process's files in PROMETHEUS_MULTIPROC_DIR (none without it), opened on first
    write. Named like prometheus_client's own ("counter_..."), which tells its collector the
    type; the "jobs" in the name keeps them apart from any prometheus_client writer."""

    def __init__(self):
        self.by_kind: dict[str, MmapedDict] | None = None  # None: not opened yet

    def write(self, cells) -> None:
        if self.by_kind is None:
            folder, pid = os.environ.get("PROMETHEUS_MULTIPROC_DIR"), os.getpid()
            self.by_kind = {} if not folder else {
                kind: MmapedDict(os.path.join(folder, f"{kind}_jobs_{pid}.db"))
                for kind in ("counter", "histogram")}
        if self.by_kind:
            for cell in cells:
                self.by_kind[cell.kind].write_value(cell.key, cell.value, 0.0)

    def close(self) -> None:
        for file in (self.by_kind or {}).values():
            file.close()
        self.by_kind = None


_files = _Files()


def flush() -> None:
    """Copy what changed since the last flush into this process's multiprocess files."""
    with _lock:
        if _changed:
            _files.write(_changed)
            _changed.clear()


def _forget_after_fork() -> None:
    """A forked child starts from zero in files of its own: its parent's numbers are its
    parent's to report."""
    global _lock
    _lock = threading.Lock()
    _changed.clear()
    _files.close()  # the parent's files stay open in the parent
    for metric in _ALL:
        metric.children.clear()


def _flush_at_exit() -> None:
    """Counts made outside any request (a CLI command, say) reach the folder too."""
    try:
        flush()
    except OSError:  # the folder is gone already: nobody is left to read it
        pass


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_flush_at_exit)


class _ThisProcess:
    """The numbers of this process, for /metrics without the multiprocess folder."""

    def collect(self):
        with _lock:
            return [metric.collect() for metric in _ALL]


REGISTRY.register(_ThisProcess())

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        flush()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and flush this request's changes: called once per request,
    before the answer leaves."""
    with _lock:
        REQUESTS.inc((route, method, str(status)))
        LATENCY.observe((route, method), seconds)
        _files.write(_changed)
        _changed.clear()


def count_storage_fault(kind: str) -> None:
    with _lock:
        STORAGE_FAULTS.inc((kind,))


def _accepted(kind, source, target, **_):
    with _lock:
        TRANSITIONS.inc((kind, source or "", target, "accepted"))


def _refused(kind, source, target, **_):
    with _lock:
        TRANSITIONS.inc((kind, source or "", target, "refused"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    transition_accepted.connect(_accepted, weak=False)
    transition_refused.connect(_refused, weak=False)
