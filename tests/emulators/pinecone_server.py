"""An emulator of Pinecone's REST API (version 2026-07) for tests: real HTTP, the real SDK, in-memory storage.

Pinecone cannot run on the test machines (Pinecone Local is a Docker image), so this module serves the part of
the published API that VectorMigrate uses, over real sockets, to the official ``pinecone`` SDK:

* the **control plane** on one port: ``POST/GET /indexes``, ``GET/DELETE /indexes/{name}``;
* one **data plane** server per index: data-plane requests do not name the index, so each index gets its own
  ``host`` (``http://127.0.0.1:PORT``; a host without a scheme would make the SDK use https):
  ``POST /vectors/upsert``, ``GET /vectors/fetch``, ``GET /vectors/list``, ``POST /query``,
  ``POST /vectors/delete``, ``POST /describe_index_stats``.

It enforces the documented limits with HTTP 400 and Pinecone's error bodies (``{"code", "message", "details"}``
on the data plane, ``{"error": {"code", "message"}, "status"}`` on the control plane): the ``Api-Key`` header
(401), ids (ASCII, at most 512 characters), at most 1,000 vectors and 2 MB per upsert, the index dimension,
metadata types (string, number, boolean, list of strings) and 40 KB per record, 1,000 sparse non-zeros, 1,000
ids per fetch, ``limit`` <= 100 per list page, and ``list`` on pod-based indexes. Numbers in metadata come back
as floats and null metadata values are stripped, as the service does; vectors are stored as float32.

Where the service's exact behaviour is not documented, the choice made here says ``emulator:`` in a comment.

Usage::

    with PineconeEmulator(api_key="k") as emu:
        pc = Pinecone(api_key="k", host=emu.url)
        emu.inject(429, times=4, retry_after=2.0)   # the next 4 data-plane requests answer 429
"""

from __future__ import annotations

import base64
import bisect
import math
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import orjson

__all__ = ["PineconeEmulator"]

MAX_REQUEST_BYTES = 2_000_000  # "2 MB" per upsert request; emulator: the stricter, decimal reading
MAX_UPSERT_VECTORS = MAX_FETCH_IDS = MAX_SPARSE_NNZ = 1000
MAX_LIST_LIMIT, MAX_ID_LENGTH, MAX_METADATA_BYTES, MAX_TOP_K, MAX_DIMENSION = 100, 512, 40_960, 10_000, 20_000
DENSE_FIELD, SPARSE_FIELD = "_values", "_sparse_values"  # schema field names of a vector index (2026-07)
METRICS = ("cosine", "euclidean", "dotproduct")
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?")
_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 503: 14}  # data-plane bodies
_CODE_NAME = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
              409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
Plane = Literal["control", "data", "any"]


@dataclass
class ApiError(Exception):
    """An HTTP error answer."""

    status: int
    message: str


@dataclass(frozen=True)
class _Record:
    """One stored vector. Never mutated: an upsert replaces the whole record."""

    values: np.ndarray | None
    sparse: tuple[list[int], np.ndarray] | None
    metadata: dict[str, Any]


@dataclass
class _Index:
    name: str
    fields: dict[str, dict[str, Any]]
    deployment: dict[str, Any]
    tags: dict[str, str] | None
    deletion_protection: str
    server: _Server | None = None
    namespaces: dict[str, dict[str, _Record]] = field(default_factory=dict)
    sorted_ids: dict[str, list[str]] = field(default_factory=dict)  # list-page cache, dropped on every write

    def __post_init__(self) -> None:
        dense = self.fields.get(DENSE_FIELD)
        self.dimension: int | None = int(dense["dimension"]) if dense else None
        self.metric: str = str(dense["metric"]) if dense else "dotproduct"  # a sparse index scores by dot product
        self.is_pod = self.deployment.get("deployment_type") == "pod"


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: float | None
    path: str | None
    plane: Plane


class _Server(ThreadingHTTPServer):
    """One listening port: the control plane (``index_name`` None) or one index's data plane."""

    daemon_threads = True

    def __init__(self, emulator: PineconeEmulator, index_name: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.emulator = emulator
        self.index_name = index_name
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK pools its connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        # http.server sends headers and body separately: without TCP_NODELAY the client's delayed ACK costs ~40 ms
        # per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, extra = self.server.emulator.dispatch(self.server.index_name, self.command, self.path,
                                                              self.headers.get("Api-Key"), body)
        data = b"" if payload is None else orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_DELETE = do_GET


class PineconeEmulator:
    """Pinecone's control and data planes on 127.0.0.1, ephemeral ports, data in memory.

    Attributes:
        url: the control-plane URL to give ``Pinecone(host=...)``.
        requests: every request seen, as ``(plane, method, path, status, body_bytes)``.
    """

    def __init__(self, api_key: str = "pc-test-key") -> None:
        self.api_key = api_key
        self.requests: list[tuple[str, str, str, int, int]] = []
        self._lock = threading.RLock()
        self._indexes: dict[str, _Index] = {}
        self._faults: list[_Fault] = []
        self._control = _Server(self, None)
        self.url = self._control.url

    def __enter__(self) -> PineconeEmulator:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- test controls ------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Close every port."""
        self.reset()
        self._control.stop()

    def reset(self) -> None:
        """Forget every index, fault and logged request."""
        with self._lock:
            indexes, self._indexes = list(self._indexes.values()), {}
            self._faults.clear()
            self.requests.clear()
        for idx in indexes:
            if idx.server is not None:
                idx.server.stop()

    def inject(self, status: int, *, times: int = 1, retry_after: float | None = None, path: str | None = None,
               plane: Plane = "data") -> None:
        """Answer the next ``times`` requests of ``plane`` whose path starts with ``path`` (any path: None) with
        ``status`` (429, 503...) and, when given, a ``Retry-After: retry_after`` header, instead of serving them."""
        with self._lock:
            self._faults.append(_Fault(status, times, retry_after, path, plane))

    def host(self, index: str) -> str:
        """The data-plane URL of an index."""
        with self._lock:
            return self._model(self._indexes[index])["host"]

    # --- routing ------------------------------------------------------------------------------------------------

    def dispatch(self, index_name: str | None, method: str, target: str, api_key: str | None,
                 body: bytes) -> tuple[int, Any, dict[str, str]]:
        """Serve one request: ``(status, JSON payload or None, extra headers)``."""
        url = urlsplit(target)
        plane: Plane = "control" if index_name is None else "data"
        status, payload, headers = self._serve(plane, index_name, method, url.path, url.query, api_key, body)
        with self._lock:
            self.requests.append((plane, method, url.path, status, len(body)))
        return status, payload, headers

    def _serve(self, plane: Plane, index_name: str | None, method: str, path: str, query: str,
               api_key: str | None, body: bytes) -> tuple[int, Any, dict[str, str]]:
        fault = self._take_fault(plane, path)
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            message = "Too many requests" if fault.status == 429 else "Service unavailable"
            return fault.status, self._error_body(plane, fault.status, message), headers
        try:
            if api_key != self.api_key:
                raise ApiError(401, "Invalid API Key")  # the same answer for a missing key
            if index_name is None:
                status, payload = self._control_plane(method, path, body)
            else:
                with self._lock:
                    idx = self._indexes.get(index_name)
                if idx is None:
                    raise ApiError(404, f"Index {index_name} not found")
                status, payload = self._data_plane(idx, method, path, parse_qs(query, keep_blank_values=True), body)
        except ApiError as exc:
            return exc.status, self._error_body(plane, exc.status, exc.message), {}
        except Exception as exc:  # an emulator bug answers 500 instead of dropping the connection
            return 500, self._error_body(plane, 500, f"emulator error: {exc!r}"), {}
        return status, payload, {}

    def _take_fault(self, plane: Plane, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.plane in (plane, "any") and (fault.path is None or path.startswith(fault.path)):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _error_body(plane: Plane, status: int, message: str) -> dict[str, Any]:
        if plane == "control":
            return {"error": {"code": _CODE_NAME.get(status, "UNKNOWN"), "message": message}, "status": status}
        return {"code": _GRPC_CODE.get(status, 2), "message": message, "details": []}

    # --- control plane ------------------------------------------------------------------------------------------

    def _control_plane(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["indexes"] and method == "GET":
            with self._lock:
                return 200, {"indexes": [self._model(i) for i in self._indexes.values()]}
        if parts == ["indexes"] and method == "POST":
            return 201, self._create_index(_json(body))
        if len(parts) == 2 and parts[0] == "indexes" and method in ("GET", "DELETE"):
            with self._lock:
                idx = self._indexes.get(parts[1])
            if idx is None:
                raise ApiError(404, f"Resource {parts[1]} not found")
            if method == "GET":
                return 200, self._model(idx)
            if idx.deletion_protection == "enabled":
                raise ApiError(403, f"Deletion protection is enabled for index {idx.name}; disable it first")
            with self._lock:
                self._indexes.pop(idx.name, None)
            if idx.server is not None:
                idx.server.stop()
            return 202, None
        raise ApiError(404, f"Not found: {method} {path}")

    def _create_index(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ApiError(400, f"Invalid index name {name!r}: use 1-45 lowercase alphanumeric characters or '-', "
                                "starting and ending with an alphanumeric character")
        fields = (req.get("schema") or {}).get("fields") or {}
        if not fields or set(fields) - {DENSE_FIELD, SPARSE_FIELD}:
            # emulator: document indexes (named schema fields, full-text search) are out of scope
            raise ApiError(400, "this emulator serves vector indexes only: schema fields _values and/or _sparse_values")
        dense, sparse = fields.get(DENSE_FIELD), fields.get(SPARSE_FIELD)
        if dense is not None:
            dim, metric = dense.get("dimension"), dense.get("metric", "cosine")
            if dense.get("type") != "dense_vector" or not isinstance(dim, int) or not 1 <= dim <= MAX_DIMENSION:
                raise ApiError(400, f"_values must be a dense_vector with a dimension of 1 to {MAX_DIMENSION}")
            if metric not in METRICS:
                raise ApiError(400, f"Invalid metric {metric!r}: expected one of {', '.join(METRICS)}")
            dense = {"type": "dense_vector", "dimension": dim, "metric": metric}
        if sparse is not None and sparse.get("type") != "sparse_vector":
            raise ApiError(400, "_sparse_values must be a sparse_vector field")
        clean = {k: v for k, v in ((DENSE_FIELD, dense), (SPARSE_FIELD, sparse and {"type": "sparse_vector"})) if v}
        deployment = req.get("deployment") or {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
        idx = _Index(name, clean, deployment, req.get("tags") or None, req.get("deletion_protection") or "disabled")
        with self._lock:
            if name in self._indexes:
                raise ApiError(409, f"Resource {name} already exists")
            self._indexes[name] = idx
        idx.server = _Server(self, name)
        return self._model(idx)

    @staticmethod
    def _model(idx: _Index) -> dict[str, Any]:
        # emulator: indexes are ready at once (the SDK polls GET /indexes/{name} until status.ready anyway)
        return {"name": idx.name, "host": idx.server.url if idx.server else None,
                "status": {"ready": True, "state": "Ready"}, "schema": {"fields": idx.fields},
                "deployment": idx.deployment, "deletion_protection": idx.deletion_protection, "tags": idx.tags}

    # --- data plane ---------------------------------------------------------------------------------------------

    def _data_plane(self, idx: _Index, method: str, path: str, query: dict[str, list[str]],
                    body: bytes) -> tuple[int, Any]:
        route = {("POST", "/vectors/upsert"): lambda: self._upsert(idx, body),
                 ("GET", "/vectors/fetch"): lambda: self._fetch(idx, query),
                 ("GET", "/vectors/list"): lambda: self._list(idx, query),
                 ("POST", "/query"): lambda: self._query(idx, _json(body)),
                 ("POST", "/vectors/delete"): lambda: self._delete(idx, _json(body)),
                 ("POST", "/describe_index_stats"): lambda: self._stats(idx)}.get((method, path))
        if route is None:
            raise ApiError(404, f"Not found: {method} {path}")
        return 200, route()

    def _upsert(self, idx: _Index, body: bytes) -> dict[str, Any]:
        if len(body) > MAX_REQUEST_BYTES:
            mb = math.ceil(len(body) / 1_000_000)
            raise ApiError(400, f"Request size {mb}MB exceeds the maximum supported size of 2MB")
        req = _json(body)
        vectors = req.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise ApiError(400, "vectors: at least one vector is required")
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise ApiError(400, f"Upsert request has {len(vectors)} vectors; the maximum is {MAX_UPSERT_VECTORS}")
        ns = _namespace(req.get("namespace"))
        parsed = [_parse_vector(idx, v) for v in vectors]  # all or nothing: one bad vector refuses the request
        with self._lock:
            idx.namespaces.setdefault(ns, {}).update(parsed)
            idx.sorted_ids.pop(ns, None)
        return {"upsertedCount": len(parsed)}

    def _fetch(self, idx: _Index, query: dict[str, list[str]]) -> dict[str, Any]:
        ids = query.get("ids", [])
        if not ids:
            raise ApiError(400, "ids: at least one id is required")
        if len(ids) > MAX_FETCH_IDS:
            raise ApiError(400, f"Fetch request has {len(ids)} ids; the maximum is {MAX_FETCH_IDS}")
        ns = _namespace(_one(query, "namespace"))
        with self._lock:
            space = idx.namespaces.get(ns, {})
            found = {i: space[i] for i in ids if i in space}
        return {"vectors": {i: _vector_json(i, r, True, True) for i, r in found.items()}, "namespace": ns,
                "usage": {"readUnits": max(1, len(found) // 10)}}

    def _list(self, idx: _Index, query: dict[str, list[str]]) -> dict[str, Any]:
        if idx.is_pod:
            # emulator: the service documents list for serverless indexes only; its answer for a pod index is not
            # documented (an old SDK saw a non-JSON body), so this is a plain 400.
            raise ApiError(400, "List operation is not supported for pod-based indexes; use a serverless index")
        try:
            limit = int(_one(query, "limit") or MAX_LIST_LIMIT)
        except ValueError:
            raise ApiError(400, "limit must be an integer") from None
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        ns, prefix, token = _namespace(_one(query, "namespace")), _one(query, "prefix") or "", _one(query, "paginationToken")
        with self._lock:
            ids = idx.sorted_ids.get(ns)
            if ids is None:
                ids = idx.sorted_ids[ns] = sorted(idx.namespaces.get(ns, {}))
        # Tokens carry the last id returned, so a page resumes exactly even after writes (or in a new process).
        start = bisect.bisect_right(ids, _decode_token(token)) if token else bisect.bisect_left(ids, prefix)
        page = [i for i in ids[start:start + limit + 1] if i.startswith(prefix)]
        out: dict[str, Any] = {"vectors": [{"id": i} for i in page[:limit]], "namespace": ns, "usage": {"readUnits": 1}}
        if len(page) > limit:
            out["pagination"] = {"next": base64.urlsafe_b64encode(page[limit - 1].encode()).decode()}
        return out

    def _query(self, idx: _Index, req: dict[str, Any]) -> dict[str, Any]:
        top_k = req.get("topK")
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ApiError(400, f"topK must be between 1 and {MAX_TOP_K}")
        if req.get("filter"):
            raise ApiError(400, "emulator: metadata filters are not implemented")
        ns = _namespace(req.get("namespace"))
        with self._lock:
            records = list(idx.namespaces.get(ns, {}).items())
        vector = req.get("vector")
        if "id" in req:
            vector = next((r.values for i, r in records if i == req["id"]), None)
            if vector is None:
                return {"matches": [], "namespace": ns, "usage": {"readUnits": 1}}
        if idx.dimension is not None and (vector is None or len(vector) != idx.dimension):
            raise ApiError(400, f"Query vector dimension {len(vector or [])} does not match the dimension of the "
                                f"index {idx.dimension}")
        scores = _scores(idx, records, vector, req.get("sparseVector"))
        # euclidean scores are squared distances: smallest first; cosine and dotproduct: largest first
        order = np.argsort(scores if idx.metric == "euclidean" else -scores, kind="stable")[:top_k]
        matches = [_vector_json(records[i][0], records[i][1], bool(req.get("includeValues")),
                                bool(req.get("includeMetadata"))) | {"score": float(scores[i])} for i in order.tolist()]
        return {"matches": matches, "namespace": ns, "usage": {"readUnits": 5}}

    def _delete(self, idx: _Index, req: dict[str, Any]) -> dict[str, Any]:
        ns = _namespace(req.get("namespace"))
        with self._lock:
            space = idx.namespaces.get(ns, {})
            if req.get("deleteAll"):
                idx.namespaces.pop(ns, None)
            elif isinstance(req.get("ids"), list):
                if len(req["ids"]) > MAX_FETCH_IDS:
                    raise ApiError(400, f"Delete request has {len(req['ids'])} ids; the maximum is {MAX_FETCH_IDS}")
                for rid in req["ids"]:
                    space.pop(rid, None)
            else:  # emulator: delete by metadata filter is not implemented
                raise ApiError(400, "Delete request needs ids or deleteAll")
            if not space:
                idx.namespaces.pop(ns, None)
            idx.sorted_ids.pop(ns, None)
        return {}

    def _stats(self, idx: _Index) -> dict[str, Any]:
        with self._lock:
            counts = {ns: len(space) for ns, space in idx.namespaces.items() if space}
        # API 2026-07 reports the default namespace as "__default__"
        return {"namespaces": {(ns or "__default__"): {"vectorCount": n} for ns, n in sorted(counts.items())},
                "dimension": idx.dimension, "indexFullness": 0.0, "totalVectorCount": sum(counts.values()),
                "metric": idx.metric, "vectorType": "dense" if idx.dimension is not None else "sparse"}


# --- helpers ------------------------------------------------------------------------------------------------------


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return value


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _namespace(value: Any) -> str:
    """The default namespace is spelled "" by the vectors API and "__default__" since 2026-07: both mean one."""
    if value is None or value == "__default__":
        return ""
    if not isinstance(value, str):
        raise ApiError(400, "namespace must be a string")
    return value


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ApiError(400, f"Invalid pagination token {token!r}") from None


def _parse_vector(idx: _Index, item: Any) -> tuple[str, _Record]:
    if not isinstance(item, dict):
        raise ApiError(400, "each vector must be a JSON object")
    vid = item.get("id")
    if not isinstance(vid, str) or not vid:
        raise ApiError(400, "Vector ID must be a non-empty string")
    if not vid.isascii():
        raise ApiError(400, f"Vector ID must be ASCII, got {vid!r}")
    if len(vid) > MAX_ID_LENGTH:
        raise ApiError(400, f"Vector ID {vid[:32]!r}... is {len(vid)} characters long; the maximum is {MAX_ID_LENGTH}")
    raw = item.get("values") or []
    values = None
    if idx.dimension is None:
        if raw:
            raise ApiError(400, f"Vector {vid!r} has dense values, but index {idx.name} is a sparse index")
    else:
        if len(raw) != idx.dimension:
            raise ApiError(400, f"Vector dimension {len(raw)} does not match the dimension of the index {idx.dimension}")
        try:
            values = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError):
            raise ApiError(400, f"Vector {vid!r}: values must be numbers") from None
        if not np.isfinite(values).all():
            raise ApiError(400, f"Vector {vid!r}: values must be finite numbers")
        if not values.any():
            raise ApiError(400, "Dense vectors must contain at least one non-zero value")
    sparse = _parse_sparse(idx, vid, item.get("sparseValues"))
    if values is None and sparse is None:
        raise ApiError(400, f"Vector {vid!r} has no sparse values, which a sparse index requires")
    return vid, _Record(values, sparse, _clean_metadata(item.get("metadata")))


def _parse_sparse(idx: _Index, vid: str, raw: Any) -> tuple[list[int], np.ndarray] | None:
    if raw is None:
        return None
    if SPARSE_FIELD not in idx.fields:
        # emulator: since 2026-07 a hybrid index must declare a sparse_vector field (_sparse_values) at creation
        raise ApiError(400, f"Index {idx.name} does not support sparse values: its schema declares no sparse_vector "
                            "field")
    indices, values = raw.get("indices"), raw.get("values")
    if not isinstance(indices, list) or not isinstance(values, list) or len(indices) != len(values):
        raise ApiError(400, f"Vector {vid!r}: sparse indices and values must be lists of the same length")
    if len(indices) > MAX_SPARSE_NNZ:
        raise ApiError(400, f"Sparse vector size {len(indices)} exceeds the maximum size of {MAX_SPARSE_NNZ}")
    if any(not isinstance(i, int) or not 0 <= i < 2**32 for i in indices) or len(set(indices)) != len(indices):
        raise ApiError(400, f"Vector {vid!r}: sparse indices must be distinct unsigned 32-bit integers")
    return list(indices), np.asarray(values, dtype=np.float32)


def _clean_metadata(meta: Any) -> dict[str, Any]:
    """Pinecone's metadata rules: strings, numbers (stored as 64-bit floats), booleans, lists of strings."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ApiError(400, "metadata must be a JSON object")
    size = len(orjson.dumps(meta))
    if size > MAX_METADATA_BYTES:
        raise ApiError(400, f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes "
                            "per vector")
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if value is None:
            continue  # null values are stripped on write (the key disappears), not refused
        if isinstance(value, str | bool):
            out[key] = value
        elif isinstance(value, int | float):
            out[key] = float(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = list(value)
        else:
            shown = orjson.dumps(value).decode()
            shown = shown if len(shown) <= 16 else shown[:16] + "..."
            raise ApiError(400, f"Metadata value must be a string, number, boolean or list of strings, got '{shown}' "
                                f"for field '{key}'")
    return out


def _vector_json(vid: str, rec: _Record, values: bool, metadata: bool) -> dict[str, Any]:
    # float32 arrays go to orjson as they are: it writes the shortest float32 text, as the service does
    out: dict[str, Any] = {"id": vid, "values": rec.values if values and rec.values is not None else []}
    if values and rec.sparse is not None:
        out["sparseValues"] = {"indices": rec.sparse[0], "values": rec.sparse[1]}
    if metadata and rec.metadata:
        out["metadata"] = rec.metadata
    return out


def _scores(idx: _Index, records: list[tuple[str, _Record]], vector: Any, sparse: Any) -> np.ndarray:
    n = len(records)
    scores = np.zeros(n, dtype=np.float64)
    if idx.dimension is not None and n:
        mat = np.stack([r.values for _, r in records]).astype(np.float64)
        q = np.asarray(vector, dtype=np.float64)
        if idx.metric == "euclidean":
            return ((mat - q) ** 2).sum(axis=1)
        scores = mat @ q
        if idx.metric == "cosine":
            scores /= np.linalg.norm(mat, axis=1) * np.linalg.norm(q) + 1e-30
    if isinstance(sparse, dict):
        weights = dict(zip(sparse.get("indices", []), sparse.get("values", []), strict=False))
        for k, (_, rec) in enumerate(records):
            if rec.sparse is not None:
                scores[k] += sum(weights.get(i, 0.0) * float(v) for i, v in zip(rec.sparse[0], rec.sparse[1], strict=True))
    return scores
