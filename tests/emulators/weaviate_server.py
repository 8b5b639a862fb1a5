"""A Weaviate emulator that the real ``weaviate-client`` v4 talks to over real sockets: REST and gRPC.

No Weaviate binary can run on the test machines, so this serves the parts of Weaviate's published API that the
Python client uses (see ENGINES.md, "weaviate-client 4.24.1: REST vs gRPC"):

REST (``http.server``, threaded, HTTP/1.1 keep-alive, TCP_NODELAY)
    ``GET /v1/.well-known/openid-configuration`` (404: no OIDC), ``/v1/.well-known/ready|live``, ``/v1/meta``
    (version 1.32.x: the client then uses gRPC ``Aggregate`` and plain ``BatchObjects``, not ``BatchStream``),
    schema CRUD ``/v1/schema[/{Class}[/properties]]``, tenants ``/v1/schema/{Class}/tenants[/{name}]``, and
    ``DELETE /v1/objects/{Class}/{uuid}``.
gRPC (``grpc.server`` with the servicer generated from the stubs the client ships)
    ``Search`` (cursor ``after`` + ``limit`` in uuid order, filters on ``_id`` and properties, ``near_vector``),
    ``BatchObjects`` (per-object errors), ``BatchDelete``, ``Aggregate`` (object count), ``TenantsGet``, and
    ``grpc.health.v1.Health/Check``.

With ``api_key`` set, every REST call but the ``.well-known`` ones needs ``Authorization: Bearer KEY`` (401
otherwise) and every gRPC call the same metadata (``UNAUTHENTICATED`` otherwise), as Weaviate's API-key auth does.

Faults for tests: :meth:`WeaviateEmulator.fail_next` makes the next gRPC calls of one method fail with a status
code, and ``delay`` slows them down (to trigger client deadlines).

Usage::

    with WeaviateEmulator(api_key="secret") as wv:
        client = weaviate.connect_to_custom("127.0.0.1", wv.http_port, False, "127.0.0.1", wv.grpc_port, False,
                                            auth_credentials=Auth.api_key("secret"))
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import grpc
import numpy as np
from google.protobuf import struct_pb2
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

from .weaviate_model import VERSION, ApiError, ClassState, Store, StoredObject

__all__ = ["WeaviateEmulator"]

QUERY_DEFAULT_LIMIT = 10
"""Weaviate's QUERY_DEFAULTS_LIMIT: the page size when a query sets no limit."""
QUERY_MAXIMUM_RESULTS = 10_000
"""Weaviate's QUERY_MAXIMUM_RESULTS: the most objects one query (or one batch delete) touches."""
GRPC_MAX_MESSAGE = 104_858_000
"""What Weaviate reports as ``grpcMaxMessageSize`` by default (100 MB)."""

_STATUS_PB = {
    "HOT": tenants_pb2.TENANT_ACTIVITY_STATUS_HOT,
    "COLD": tenants_pb2.TENANT_ACTIVITY_STATUS_COLD,
    "FROZEN": tenants_pb2.TENANT_ACTIVITY_STATUS_FROZEN,
}
_REST_STATUS = {"HOT": "ACTIVE", "COLD": "INACTIVE", "FROZEN": "OFFLOADED"}


class WeaviateEmulator:
    """A REST + gRPC Weaviate on two ephemeral ports of 127.0.0.1.

    Args:
        api_key: require this key (``Authorization: Bearer ...``) on REST and gRPC; None: anonymous access.
        autoschema: add properties for unknown keys on write (Weaviate's default); False refuses them per object.
        version: what ``/v1/meta`` reports.
    """

    def __init__(self, *, api_key: str | None = None, autoschema: bool = True, version: str = VERSION) -> None:
        self.api_key = api_key
        self.version = version
        self.store = Store(autoschema=autoschema)
        self.delay = 0.0
        """Seconds every gRPC data call sleeps first (to test client deadlines)."""
        self.calls: dict[str, int] = {}
        """How many times each REST route / gRPC method was called (for tests that count round trips)."""
        self._faults: dict[str, list[tuple[grpc.StatusCode, str]]] = {}
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self.http_port = 0
        self.grpc_port = 0

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> WeaviateEmulator:
        """Start both servers; ``http_port`` and ``grpc_port`` are then set."""
        handler = type("Handler", (_RestHandler,), {"emulator": self})
        self._http = _HttpServer(("127.0.0.1", 0), handler)
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="weaviate-rest", daemon=True)
        self._http_thread.start()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="weaviate-grpc"),
                                 options=[("grpc.max_receive_message_length", GRPC_MAX_MESSAGE),
                                          ("grpc.max_send_message_length", GRPC_MAX_MESSAGE)])
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Servicer(self), self._grpc)
        self._grpc.add_generic_rpc_handlers((_health_handler(self),))
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        return self

    def stop(self) -> None:
        """Stop both servers (idempotent)."""
        if self._grpc is not None:
            self._grpc.stop(grace=None)
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> WeaviateEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The REST base URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.http_port}"

    def reset(self) -> None:
        """Forget every class, fault and counter (between tests sharing one emulator)."""
        with self.store.lock:
            self.store.classes.clear()
        with self._lock:
            self._faults.clear()
            self.calls.clear()
        self.delay = 0.0

    # -- faults -------------------------------------------------------------------------------------------

    def fail_next(self, method: str, code: grpc.StatusCode, count: int = 1, message: str = "injected fault") -> None:
        """Make the next ``count`` gRPC calls of ``method`` (``"Search"``, ``"BatchObjects"``...) fail with ``code``."""
        with self._lock:
            self._faults.setdefault(method, []).extend([(code, message)] * count)

    def _take_fault(self, method: str) -> tuple[grpc.StatusCode, str] | None:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            queue = self._faults.get(method)
            return queue.pop(0) if queue else None

    def count_call(self, route: str) -> None:
        with self._lock:
            self.calls[route] = self.calls.get(route, 0) + 1


# --- REST ----------------------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _RestHandler(BaseHTTPRequestHandler):
    """Weaviate's REST routes used by the client; errors use Weaviate's ``{"error": [{"message": ...}]}`` body."""

    emulator: WeaviateEmulator
    protocol_version = "HTTP/1.1"  # keep-alive: httpx reuses connections

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read failures from assertions, not from server logs."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": [{"message": message}]})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        em = self.emulator
        try:
            body = self._body() if method in ("POST", "PUT", "DELETE") else None
        except ValueError:
            self._error(400, "the request body is not valid JSON")
            return
        if segments[:2] == ["v1", ".well-known"]:
            em.count_call(f"{method} /v1/.well-known")
            self._well_known(segments[2:])
            return
        if em.api_key is not None and self.headers.get("Authorization") != f"Bearer {em.api_key}":
            # Weaviate's answer for a missing or wrong API key
            self._send(401, {"code": 401, "message": "unauthorized: invalid api key"})
            return
        route = "/".join(segments[:3])
        em.count_call(f"{method} /{route}")
        try:
            self._route(method, segments, query, body)
        except ApiError as exc:
            self._error(exc.status, exc.message)

    def _well_known(self, rest: list[str]) -> None:
        if rest in (["ready"], ["live"]):
            self._send(200)
        else:  # openid-configuration: 404 means "no OIDC"; API-key auth needs no configuration
            self._send(404)

    def _route(self, method: str, seg: list[str], query: dict[str, str], body: Any) -> None:
        store = self.emulator.store
        if seg == ["v1", "meta"] and method == "GET":
            self._send(200, {"hostname": "http://[::]:8080", "modules": {}, "version": self.emulator.version,
                             "grpcMaxMessageSize": GRPC_MAX_MESSAGE})
            return
        if seg == ["v1", "schema"]:
            if method == "GET":
                with store.lock:
                    self._send(200, {"classes": [c.schema for c in store.classes.values()]})
            elif method == "POST":
                self._send(200, store.create_class(body or {}))
            else:
                self._error(405, f"method {method} not allowed")
            return
        if len(seg) >= 3 and seg[:2] == ["v1", "schema"]:
            self._schema_route(method, seg[2], seg[3:], body)
            return
        if len(seg) == 4 and seg[:2] == ["v1", "objects"] and method in ("DELETE", "HEAD", "GET"):
            self._object_route(method, seg[2], seg[3], query)
            return
        self._error(404, f"no route for {method} {self.path}")

    def _schema_route(self, method: str, class_name: str, rest: list[str], body: Any) -> None:
        store = self.emulator.store
        if not rest:
            if method == "GET":
                with store.lock:
                    self._send(200, store.get_class(class_name).schema)
            elif method == "DELETE":
                store.delete_class(class_name)
                self._send(200)
            else:
                self._error(405, f"method {method} not allowed")
            return
        if rest == ["properties"] and method == "POST":
            self._send(200, store.add_property(class_name, body or {}))
            return
        if rest[0] == "tenants":
            if len(rest) == 2:  # GET/HEAD /v1/schema/{Class}/tenants/{name}
                with store.lock:
                    cls = store.get_class(class_name)
                    status = cls.tenants.get(rest[1])
                if status is None:
                    self._error(404, f"tenant not found: \"{rest[1]}\"")
                else:
                    self._send(200, {"name": rest[1], "activityStatus": _REST_STATUS.get(status, status)})
                return
            if method == "GET":
                with store.lock:
                    cls = store.get_class(class_name)
                    if not cls.multi_tenant:
                        raise ApiError(422, f"multi-tenancy is not enabled for class \"{cls.name}\"")
                    self._send(200, [{"name": n, "activityStatus": _REST_STATUS.get(s, s)}
                                     for n, s in sorted(cls.tenants.items())])
            elif method == "POST":
                self._send(200, store.add_tenants(class_name, list(body or [])))
            elif method == "PUT":
                self._send(200, store.update_tenants(class_name, list(body or [])))
            elif method == "DELETE":
                store.delete_tenants(class_name, [str(n) for n in body or []])
                self._send(200)
            else:
                self._error(405, f"method {method} not allowed")
            return
        self._error(404, f"no route for {method} {self.path}")

    def _object_route(self, method: str, class_name: str, object_id: str, query: dict[str, str]) -> None:
        store = self.emulator.store
        tenant = query.get("tenant", "")
        if method == "DELETE":
            found = store.delete_object(class_name, tenant, object_id)
            self._send(204 if found else 404)
            return
        with store.lock:
            shard = store.get_class(class_name).shard(tenant)
            found = object_id.lower() in shard
        self._send(204 if method == "HEAD" and found else 200 if found else 404,
                   None if method == "HEAD" or not found else {"class": class_name, "id": object_id.lower()})


# --- gRPC ----------------------------------------------------------------------------------------------------


def _health_handler(em: WeaviateEmulator) -> grpc.GenericRpcHandler:
    def check(request: health_weaviate_pb2.WeaviateHealthCheckRequest,
              context: grpc.ServicerContext) -> health_weaviate_pb2.WeaviateHealthCheckResponse:
        em.count_call("Health/Check")
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING)

    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            check, request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
            response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString),
    })


class _Servicer(weaviate_pb2_grpc.WeaviateServicer):
    """The data plane. Server-side errors are returned as Weaviate does: status UNKNOWN with its message."""

    def __init__(self, em: WeaviateEmulator) -> None:
        self.em = em
        self.store = em.store

    def _guard(self, method: str, context: grpc.ServicerContext) -> None:
        """Auth, then injected faults and delay; aborts the call when one applies."""
        if self.em.api_key is not None:
            meta = dict(context.invocation_metadata())
            if meta.get("authorization") != f"Bearer {self.em.api_key}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "extract auth: unauthorized: invalid api key")
        fault = self.em._take_fault(method)
        if self.em.delay:
            time.sleep(self.em.delay)
        if fault is not None:
            context.abort(*fault)

    def _run(self, method: str, context: grpc.ServicerContext, fn: Callable[[], Any]) -> Any:
        self._guard(method, context)
        try:
            return fn()
        except ApiError as exc:
            context.abort(grpc.StatusCode.UNKNOWN, exc.message)

    # -- BatchObjects -------------------------------------------------------------------------------------

    def BatchObjects(self, request: batch_pb2.BatchObjectsRequest,
                     context: grpc.ServicerContext) -> batch_pb2.BatchObjectsReply:
        def run() -> batch_pb2.BatchObjectsReply:
            start = time.perf_counter()
            errors = []
            for index, obj in enumerate(request.objects):
                try:
                    props = _props_from_batch(obj.properties) if obj.HasField("properties") else {}
                    vectors = _vectors_from_batch(obj)
                    self.store.put_object(obj.collection, obj.tenant, obj.uuid, props, vectors)
                except ApiError as exc:
                    errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=exc.message))
            return batch_pb2.BatchObjectsReply(took=time.perf_counter() - start, errors=errors)

        return self._run("BatchObjects", context, run)

    # -- Search -------------------------------------------------------------------------------------------

    def Search(self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext) -> search_get_pb2.SearchReply:
        return self._run("Search", context, lambda: self._search(request))

    def _search(self, request: search_get_pb2.SearchRequest) -> search_get_pb2.SearchReply:
        start = time.perf_counter()
        with self.store.lock:
            cls = self.store.get_class(request.collection)
            objects = list(cls.shard(request.tenant).values())
            limit = request.limit or QUERY_DEFAULT_LIMIT
            if request.after and (request.HasField("filters") or request.sort_by or request.HasField("near_vector")):
                raise ApiError(422, "cursor api: invalid 'after' parameter: where cannot be set with after and limit "
                                    "parameters")
            if request.HasField("filters"):
                objects = [o for o in objects if _matches(cls, o, request.filters)]
            distances: dict[str, float] = {}
            if request.HasField("near_vector"):
                name, query = _near_vector(request.near_vector)
                distances = _distances(cls, objects, name, query)
                objects = sorted((o for o in objects if o.uuid in distances), key=lambda o: (distances[o.uuid], o.uuid))
            else:
                # Objects come in uuid order: the cursor API pages with ``after`` = the last uuid of a page.
                objects.sort(key=lambda o: o.uuid)
                if request.after:
                    after = str(uuidlib.UUID(request.after))
                    objects = [o for o in objects if o.uuid > after]
            objects = objects[request.offset:request.offset + min(limit, QUERY_MAXIMUM_RESULTS)]
            results = [self._result(cls, o, request, distances.get(o.uuid)) for o in objects]
        return search_get_pb2.SearchReply(took=time.perf_counter() - start, results=results)

    def _result(self, cls: ClassState, obj: StoredObject, request: search_get_pb2.SearchRequest,
                distance: float | None) -> search_get_pb2.SearchResult:
        meta = search_get_pb2.MetadataResult()
        want = request.metadata
        if want.uuid:
            meta.id = obj.uuid
            meta.id_as_bytes = uuidlib.UUID(obj.uuid).bytes
        if want.creation_time_unix:
            meta.creation_time_unix, meta.creation_time_unix_present = obj.created_ms, True
        if want.last_update_time_unix:
            meta.last_update_time_unix, meta.last_update_time_unix_present = obj.updated_ms, True
        if want.distance and distance is not None:
            meta.distance, meta.distance_present = distance, True
        if want.certainty and distance is not None and cls.distance_of(_first_vector(cls)) == "cosine":
            meta.certainty, meta.certainty_present = 1 - distance / 2, True
        if want.vector or want.vectors:
            for name, vec in obj.vectors.items():
                data = vec.astype("<f4").tobytes()
                if name == "":
                    meta.vector_bytes = data  # the legacy class-level vector
                elif want.vector or name in want.vectors:
                    meta.vectors.append(base_pb2.Vectors(name=name, vector_bytes=data,
                                                         type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32))
        props = search_get_pb2.PropertiesResult(target_collection=cls.name)
        wanted = _wanted_properties(request)
        fields = props.non_ref_props.fields
        for name, value in obj.properties.items():
            if wanted is not None and name not in wanted:
                continue
            prop = cls.prop(name)
            if prop is None or not prop["dataType"][0][:1].islower():
                continue  # cross-references are only returned when asked for, which this emulator does not do
            fields[name].CopyFrom(_to_value(prop, value))
        return search_get_pb2.SearchResult(properties=props, metadata=meta)

    # -- BatchDelete --------------------------------------------------------------------------------------

    def BatchDelete(self, request: batch_delete_pb2.BatchDeleteRequest,
                    context: grpc.ServicerContext) -> batch_delete_pb2.BatchDeleteReply:
        def run() -> batch_delete_pb2.BatchDeleteReply:
            start = time.perf_counter()
            with self.store.lock:
                cls = self.store.get_class(request.collection)
                shard = cls.shard(request.tenant if request.HasField("tenant") else "")
                matches = sorted((o for o in shard.values() if _matches(cls, o, request.filters)),
                                 key=lambda o: o.uuid)[:QUERY_MAXIMUM_RESULTS]
                if not request.dry_run:
                    for obj in matches:
                        shard.pop(obj.uuid, None)
            objects = [batch_delete_pb2.BatchDeleteObject(uuid=uuidlib.UUID(o.uuid).bytes, successful=True)
                       for o in matches] if request.verbose else []
            return batch_delete_pb2.BatchDeleteReply(took=time.perf_counter() - start, failed=0, matches=len(matches),
                                                     successful=len(matches), objects=objects)

        return self._run("BatchDelete", context, run)

    # -- Aggregate ----------------------------------------------------------------------------------------

    def Aggregate(self, request: aggregate_pb2.AggregateRequest,
                  context: grpc.ServicerContext) -> aggregate_pb2.AggregateReply:
        def run() -> aggregate_pb2.AggregateReply:
            start = time.perf_counter()
            if request.HasField("group_by") or request.aggregations or request.WhichOneof("search"):
                raise ApiError(422, "this emulator aggregates object counts only")
            with self.store.lock:
                cls = self.store.get_class(request.collection)
                objects = cls.shard(request.tenant).values()
                if request.HasField("filters"):
                    count = sum(1 for o in objects if _matches(cls, o, request.filters))
                else:
                    count = len(objects)
            single = aggregate_pb2.AggregateReply.Single(objects_count=count)
            return aggregate_pb2.AggregateReply(took=time.perf_counter() - start, single_result=single)

        return self._run("Aggregate", context, run)

    # -- TenantsGet ---------------------------------------------------------------------------------------

    def TenantsGet(self, request: tenants_pb2.TenantsGetRequest,
                   context: grpc.ServicerContext) -> tenants_pb2.TenantsGetReply:
        def run() -> tenants_pb2.TenantsGetReply:
            with self.store.lock:
                cls = self.store.get_class(request.collection)
                if not cls.multi_tenant:
                    raise ApiError(422, f"multi-tenancy is not enabled for class \"{cls.name}\"")
                names = list(request.names.values) if request.HasField("names") else sorted(cls.tenants)
                tenants = [tenants_pb2.Tenant(name=n, activity_status=_STATUS_PB[cls.tenants[n]])
                           for n in names if n in cls.tenants]
            return tenants_pb2.TenantsGetReply(took=0.0, tenants=tenants)

        return self._run("TenantsGet", context, run)


# --- protobuf <-> Python -------------------------------------------------------------------------------------


def _struct_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "null_value" or kind is None:
        return None
    if kind == "number_value":
        return value.number_value  # always a float64: the server casts per the schema (see check_value)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {k: _struct_value(v) for k, v in value.struct_value.fields.items()}
    return [_struct_value(v) for v in value.list_value.values]


def _props_from_batch(props: Any) -> dict[str, Any]:
    """A ``BatchObject.Properties`` / ``ObjectPropertiesValue`` as a dict (as Weaviate's extractPrimitiveProperties)."""
    out: dict[str, Any] = {k: _struct_value(v) for k, v in props.non_ref_properties.fields.items()}
    for p in props.boolean_array_properties:
        out[p.prop_name] = list(p.values)
    for p in props.number_array_properties:
        out[p.prop_name] = (list(struct.unpack(f"<{len(p.values_bytes) // 8}d", p.values_bytes)) if p.values_bytes
                            else list(p.values))
    for p in props.text_array_properties:
        out[p.prop_name] = list(p.values)
    for p in props.int_array_properties:
        out[p.prop_name] = [int(v) for v in p.values]
    for p in props.object_properties:
        out[p.prop_name] = _props_from_batch(p.value)
    for p in props.object_array_properties:
        out[p.prop_name] = [_props_from_batch(v) for v in p.values]
    for name in props.empty_list_props:
        out[name] = []
    if hasattr(props, "single_target_ref_props"):
        for ref in props.single_target_ref_props:
            out[ref.prop_name] = [{"beacon": f"weaviate://localhost/{u}"} for u in ref.uuids]
    return out


def _vectors_from_batch(obj: batch_pb2.BatchObject) -> dict[str, np.ndarray]:
    vectors: dict[str, np.ndarray] = {}
    if obj.vector_bytes:
        vectors[""] = np.frombuffer(obj.vector_bytes, dtype="<f4")
    elif len(obj.vector):
        vectors[""] = np.asarray(obj.vector, dtype=np.float32)
    for vec in obj.vectors:
        if vec.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
            raise ApiError(422, f"multi-vector \"{vec.name}\" is not supported by this emulator")
        vectors[vec.name] = np.frombuffer(vec.vector_bytes, dtype="<f4")
    return vectors


def _wanted_properties(request: search_get_pb2.SearchRequest) -> set[str] | None:
    """The property names a search asks for; None: all of them (no properties message, or return-all)."""
    if not request.HasField("properties") or request.properties.return_all_nonref_properties:
        return None
    return set(request.properties.non_ref_properties) | {p.prop_name for p in request.properties.object_properties}


def _to_value(prop: dict[str, Any], value: Any) -> properties_pb2.Value:
    """A stored value as the typed ``properties.Value`` Weaviate answers with (uses_125_api and later)."""
    dt = prop["dataType"][0]
    if dt.endswith("[]"):
        inner = dt[:-2]
        if inner in ("text", "string"):
            lv = properties_pb2.ListValue(text_values=properties_pb2.TextValues(values=value))
        elif inner == "int":
            lv = properties_pb2.ListValue(int_values=properties_pb2.IntValues(
                values=struct.pack(f"<{len(value)}q", *value)))
        elif inner == "number":
            lv = properties_pb2.ListValue(number_values=properties_pb2.NumberValues(
                values=struct.pack(f"<{len(value)}d", *value)))
        elif inner == "boolean":
            lv = properties_pb2.ListValue(bool_values=properties_pb2.BoolValues(values=value))
        elif inner == "date":
            lv = properties_pb2.ListValue(date_values=properties_pb2.DateValues(values=value))
        elif inner == "uuid":
            lv = properties_pb2.ListValue(uuid_values=properties_pb2.UuidValues(values=value))
        else:  # object[]
            nested = {"name": prop["name"], "dataType": ["object"], "nestedProperties": prop["nestedProperties"]}
            lv = properties_pb2.ListValue(object_values=properties_pb2.ObjectValues(
                values=[_to_value(nested, v).object_value for v in value]))
        return properties_pb2.Value(list_value=lv)
    if dt in ("text", "string"):
        return properties_pb2.Value(text_value=value)
    if dt == "int":
        return properties_pb2.Value(int_value=value)
    if dt == "number":
        return properties_pb2.Value(number_value=value)
    if dt == "boolean":
        return properties_pb2.Value(bool_value=value)
    if dt == "date":
        return properties_pb2.Value(date_value=value)
    if dt == "uuid":
        return properties_pb2.Value(uuid_value=value)
    if dt == "blob":
        return properties_pb2.Value(blob_value=value)
    if dt == "geoCoordinates":
        return properties_pb2.Value(geo_value=properties_pb2.GeoCoordinate(latitude=value["latitude"],
                                                                           longitude=value["longitude"]))
    if dt == "phoneNumber":
        return properties_pb2.Value(phone_value=properties_pb2.PhoneNumber(input=value.get("input", "")))
    # object: nested values typed by the nested properties
    children = {p["name"]: p for p in prop["nestedProperties"]}
    obj = properties_pb2.Properties()
    for key, item in value.items():
        obj.fields[key].CopyFrom(_to_value(children[key], item))
    return properties_pb2.Value(object_value=obj)


# --- filters and vector search -------------------------------------------------------------------------------

_Op = base_pb2.Filters


def _filter_value(f: base_pb2.Filters) -> Any:
    kind = f.WhichOneof("test_value")
    if kind is None:
        return None
    value = getattr(f, kind)
    if kind.endswith("_array"):
        return list(value.values)
    return value


def _matches(cls: ClassState, obj: StoredObject, f: base_pb2.Filters) -> bool:
    """Whether ``obj`` passes the filter (the operators a migration needs, plus the usual comparisons)."""
    op = f.operator
    if op == _Op.OPERATOR_AND:
        return all(_matches(cls, obj, sub) for sub in f.filters)
    if op == _Op.OPERATOR_OR:
        return any(_matches(cls, obj, sub) for sub in f.filters)
    if op == _Op.OPERATOR_NOT:
        return not all(_matches(cls, obj, sub) for sub in f.filters)
    path = f.target.property if f.HasField("target") else (f.on[0] if f.on else "")
    actual: Any = obj.uuid if path == "_id" else obj.properties.get(path)
    wanted = _filter_value(f)
    if path == "_id":
        wanted = [str(uuidlib.UUID(w)) for w in wanted] if isinstance(wanted, list) else str(uuidlib.UUID(wanted))
    if op == _Op.OPERATOR_IS_NULL:
        return (actual is None) == bool(wanted)
    if actual is None:
        return op == _Op.OPERATOR_NOT_EQUAL
    values = actual if isinstance(actual, list) else [actual]
    if op == _Op.OPERATOR_EQUAL:
        return any(v == wanted for v in values)
    if op == _Op.OPERATOR_NOT_EQUAL:
        return all(v != wanted for v in values)
    if op == _Op.OPERATOR_CONTAINS_ANY:
        return any(v in wanted for v in values)
    if op == _Op.OPERATOR_CONTAINS_ALL:
        return all(w in values for w in wanted)
    if op == _Op.OPERATOR_CONTAINS_NONE:
        return not any(v in wanted for v in values)
    compare = {_Op.OPERATOR_GREATER_THAN: lambda a, b: a > b, _Op.OPERATOR_GREATER_THAN_EQUAL: lambda a, b: a >= b,
               _Op.OPERATOR_LESS_THAN: lambda a, b: a < b, _Op.OPERATOR_LESS_THAN_EQUAL: lambda a, b: a <= b}
    if op in compare:
        return any(compare[op](v, wanted) for v in values)
    raise ApiError(422, f"filter operator {_Op.Operator.Name(op)} is not supported by this emulator")


def _near_vector(nv: Any) -> tuple[str, np.ndarray]:
    """The (target vector name, query vector) of a ``NearVector`` in any of the shapes the client sends."""
    name = nv.targets.target_vectors[0] if nv.targets.target_vectors else (
        nv.target_vectors[0] if nv.target_vectors else "")
    if nv.vectors:
        return name, np.frombuffer(nv.vectors[0].vector_bytes, dtype="<f4")
    if nv.vector_for_targets:
        first = nv.vector_for_targets[0]
        return first.name or name, np.frombuffer(first.vector_bytes, dtype="<f4")
    if nv.vector_bytes:
        return name, np.frombuffer(nv.vector_bytes, dtype="<f4")
    return name, np.asarray(nv.vector, dtype=np.float32)


def _first_vector(cls: ClassState) -> str:
    return next(iter(cls.schema.get("vectorConfig") or {"": None}))


def _distances(cls: ClassState, objects: list[StoredObject], name: str, query: np.ndarray) -> dict[str, float]:
    """Exact distances as Weaviate defines them: cosine 1-cos, dot -a.b, l2-squared, manhattan, hamming."""
    if "vectorConfig" in cls.schema and not name:
        if len(cls.schema["vectorConfig"]) != 1:
            raise ApiError(422, "multiple vectors configured: a target vector must be given")
        name = _first_vector(cls)
    key = name if "vectorConfig" in cls.schema else ""
    metric = cls.distance_of(key)
    out: dict[str, float] = {}
    q = query.astype(np.float64)
    for obj in objects:
        vec = obj.vectors.get(key)
        if vec is None:
            continue
        if vec.size != q.size:
            raise ApiError(422, f"vector search: knn search: distance between entrypoint and query node: vector "
                                f"lengths don't match: {q.size} vs {vec.size}")
        v = vec.astype(np.float64)
        if metric == "cosine":
            denom = float(np.linalg.norm(v) * np.linalg.norm(q)) or 1.0
            d = 1.0 - float(v @ q) / denom
        elif metric == "dot":
            d = -float(v @ q)
        elif metric == "l2-squared":
            d = float(((v - q) ** 2).sum())
        elif metric == "manhattan":
            d = float(np.abs(v - q).sum())
        else:
            d = float((v != q).sum())
        out[obj.uuid] = d if math.isfinite(d) else math.inf
    return out
