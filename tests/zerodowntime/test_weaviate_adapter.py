"""The weaviate-client v4 collection adapter (``adapters.weaviate``), through the real client against the Weaviate
emulator (tests/emulators/weaviate_server.py) as the migration's source.

The application keeps its ``collection.data`` / ``collection.batch`` / ``with_tenant`` calls on a wrapped
collection; every result and exception is the client's, and after ``sync`` the target equals the source exactly,
even with target writes failing now and then and the bulk copy running meanwhile.

The emulator serves the REST object routes the client's single-object writes use (``POST /v1/objects``,
``PUT`` / ``PATCH /v1/objects/{Class}/{uuid}``) through a small handler extension defined here.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import weaviate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.collections.classes.batch import BatchObjectReturn, DeleteManyReturn
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateInsertManyAllFailedError
from zd_helpers import FlakyTarget, RaceGate, assert_target_equals_source

from emulators import weaviate_server
from emulators.weaviate_model import ApiError
from emulators.weaviate_server import WeaviateEmulator
from vectormigrate.connectors.base import Connector
from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import iter_batches, make_id, make_schema
from vectormigrate.errors import ConfigError
from vectormigrate.pipeline.plan import MigrationPlan
from vectormigrate.pipeline.transform import Transformer
from vectormigrate.service import Endpoint, MigrationSpec, migrate, resume
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime import DualWriter
from vectormigrate.zerodowntime.adapters.weaviate import DualWriteWeaviateCollection, dual_write_collection
from vectormigrate.zerodowntime.journal import SQLiteJournal
from vectormigrate.zerodowntime.service import start_dual_write, sync_migration

DIM = 8
N = 240
TENANTS = ("acme", "globex")


# -- the emulator, with the single-object REST routes -------------------------------------------------------------
class _ObjectRoutes(weaviate_server._RestHandler):  # a test-local extension of the emulator
    """``POST /v1/objects`` (422 when the uuid exists), ``PUT`` (replace) and ``PATCH`` (merge) of one object
    (404 when it does not exist), as Weaviate answers them."""

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _route(self, method: str, seg: list[str], query: dict[str, str], body: Any) -> None:
        if seg == ["v1", "objects"] and method == "POST":
            self._write(method, str((body or {}).get("class", "")), str((body or {}).get("id", "")), body or {})
        elif len(seg) == 4 and seg[:2] == ["v1", "objects"] and method in ("PUT", "PATCH"):
            if method == "PATCH":
                body = self._body()  # the base dispatcher reads bodies of POST, PUT and DELETE only
            self._write(method, seg[2], seg[3], body or {})
        else:
            super()._route(method, seg, query, body)

    def _write(self, method: str, class_name: str, object_id: str, body: dict[str, Any]) -> None:
        store = self.emulator.store
        tenant = str(body.get("tenant") or "")
        vectors = {str(k): np.asarray(v, dtype=np.float32) for k, v in (body.get("vectors") or {}).items()}
        if body.get("vector") is not None:
            vectors[""] = np.asarray(body["vector"], dtype=np.float32)
        try:
            key = str(uuid.UUID(object_id))
        except ValueError:
            raise ApiError(422, f"invalid id {object_id!r}") from None
        with store.lock:
            old = store.get_class(class_name).shard(tenant).get(key)
            if method == "POST" and old is not None:
                raise ApiError(422, f"id '{key}' already exists")
            if method != "POST" and old is None:
                raise ApiError(404, f"object {key} not found")
            props = dict(body.get("properties") or {})
            if method == "PATCH" and old is not None:
                props = {**old.properties, **props}
                vectors = vectors or dict(old.vectors)
            store.put_object(class_name, tenant, key, props, vectors)
        if method == "PATCH":
            self._send(204)
        else:
            self._send(200, {"class": class_name, "id": key, "properties": props})


@pytest.fixture(scope="module")
def emulator() -> Iterator[WeaviateEmulator]:
    plain = weaviate_server._RestHandler
    weaviate_server._RestHandler = _ObjectRoutes  # type: ignore[misc]  # only while it starts
    try:
        wv = WeaviateEmulator().start()
    finally:
        weaviate_server._RestHandler = plain  # type: ignore[misc]
    try:
        yield wv
    finally:
        wv.stop()


@pytest.fixture
def wv(emulator: WeaviateEmulator) -> WeaviateEmulator:
    emulator.reset()
    return emulator


@pytest.fixture
def client(wv: WeaviateEmulator) -> Iterator[weaviate.WeaviateClient]:
    c = weaviate.connect_to_custom("127.0.0.1", wv.http_port, False, "127.0.0.1", wv.grpc_port, False,
                                   skip_init_checks=True)
    try:
        yield c
    finally:
        c.close()


def source_endpoint(wv: WeaviateEmulator) -> Endpoint:
    return Endpoint("weaviate", "Docs", url=wv.url, options={"grpc_port": str(wv.grpc_port)})


def seed(src: Connector, n: int, tenants: tuple[str, ...] = ()) -> None:
    src.create_collection(make_schema("Docs", dim=DIM, id_kind="uuid", namespaces=tenants, metadata="simple"))
    for b in iter_batches(n, batch_size=100, dim=DIM, id_kind="uuid", namespaces=tenants, metadata="simple",
                          seed=1):
        src.write_batch("Docs", b)


def vec(rng: np.random.Generator) -> dict[str, list[float]]:
    return {"default": rng.standard_normal(DIM).astype(np.float32).tolist()}


def journal(tmp: Path, mid: str) -> list[tuple[str | None, Any, str]]:
    with SQLiteJournal(tmp / "j.db") as j:
        return [(e.namespace, e.record_id, e.op) for e in j.read(mid, after=0, limit=10_000)]


# -- results and exceptions are the client's ----------------------------------------------------------------------
def test_wrapper_returns_and_raises_what_the_client_does(tmp_path: Path, wv: WeaviateEmulator,
                                                         client: weaviate.WeaviateClient) -> None:
    src_ep, tgt_ep = source_endpoint(wv), Endpoint("memory", "docs_v2", url=f"mem-{tmp_path.name}")
    src, tgt = open_connector("weaviate", src_ep.config()), open_connector("memory", tgt_ep.config())
    seed(src, 10)
    store = StateStore(tmp_path / "state.db")
    start_dual_write(MigrationSpec("m", src_ep, tgt_ep), store, journal=tmp_path / "j.db", connectors=(src, tgt))
    rng = np.random.default_rng(3)
    with DualWriter.for_migration("m", store=store, target=tgt) as dw:
        with pytest.raises(ConfigError, match="not the migration's source collection"):
            dual_write_collection(client.collections.get("Other"), dw)
        docs = dual_write_collection(client.collections.get("docs"), dw)  # first letter: case-insensitive
        assert isinstance(docs, DualWriteWeaviateCollection) and docs.dual_writer is dw

        given = uuid.UUID(int=1)
        got = docs.data.insert({"title": "one", "n": 1, "category": "a"}, uuid=given, vector=vec(rng))
        assert got == given and isinstance(got, uuid.UUID)
        made = docs.data.insert({"title": "two", "n": 2, "category": "a"}, vector=vec(rng))
        assert isinstance(made, uuid.UUID)
        with pytest.raises(UnexpectedStatusCodeError, match="already exists"):
            docs.data.insert({"title": "dup", "n": 3, "category": "a"}, uuid=given, vector=vec(rng))

        many = docs.data.insert_many([DataObject(properties={"title": f"m{i}", "n": 10 + i, "category": "grp"},
                                                 uuid=uuid.UUID(int=10 + i), vector=vec(rng)) for i in range(3)])
        assert isinstance(many, BatchObjectReturn) and not many.has_errors
        assert [many.uuids[i] for i in range(3)] == [uuid.UUID(int=10 + i) for i in range(3)]
        partial = docs.data.insert_many([DataObject(properties={"title": "ok", "n": 30, "category": "b"},
                                                    uuid=uuid.UUID(int=30), vector=vec(rng)),
                                         DataObject(properties={"title": "bad", "n": 31, "category": "b"},
                                                    uuid=uuid.UUID(int=31), vector={"default": [1.0, 2.0]})])
        assert isinstance(partial, BatchObjectReturn) and list(partial.uuids) == [0] and list(partial.errors) == [1]
        with pytest.raises(WeaviateInsertManyAllFailedError):
            docs.data.insert_many([DataObject(properties={"n": 40}, uuid=uuid.UUID(int=40), vector={"default": [1.0]})])

        assert docs.data.replace(uuid.UUID(int=10), {"title": "replaced", "n": 10, "category": "r"},
                                 vector=vec(rng)) is None
        assert docs.data.update(uuid.UUID(int=11), {"category": "patched"}) is None
        with pytest.raises(UnexpectedStatusCodeError):
            docs.data.update(uuid.UUID(int=99), {"category": "nobody"})
        assert docs.data.delete_by_id(made) is True
        assert docs.data.delete_by_id(uuid.UUID(int=98)) is False
        assert docs.data.exists(given) is True  # not a write: the client's own

        dry = docs.data.delete_many(where=Filter.by_property("category").equal("grp"), dry_run=True)
        assert isinstance(dry, DeleteManyReturn) and dry.matches == 1 and dry.objects is None
        quiet = docs.data.delete_many(where=Filter.by_property("n").equal(12))
        assert quiet == DeleteManyReturn(failed=0, matches=1, objects=None, successful=1)
        loud = docs.data.delete_many(where=Filter.by_property("n").equal(30), verbose=True)
        assert loud.matches == 1 and [str(o.uuid) for o in loud.objects] == [str(uuid.UUID(int=30))]

        with docs.batch.fixed_size(batch_size=2) as batch:
            batch_ids = [batch.add_object(properties={"title": f"b{i}", "n": 50 + i, "category": "batch"},
                                          vector=vec(rng)) for i in range(3)]
            batch.add_object(properties={"title": "bad", "n": 59, "category": "batch"}, uuid=uuid.UUID(int=59),
                             vector={"default": [1.0]})
        assert len(docs.batch.failed_objects) == 1  # passed through to the client's wrapper
        with docs.batch.dynamic() as batch:
            batch_ids.append(batch.add_object(properties={"title": "dyn", "n": 60, "category": "batch"},
                                              uuid=uuid.UUID(int=60), vector=vec(rng)))
            batch.flush()
            assert tgt.fetch("docs_v2", [str(uuid.UUID(int=60))])  # mirrored at the flush, not only at the exit
        assert batch_ids[-1] == str(uuid.UUID(int=60))  # add_object returns the uuid as the client does (a str)
        assert len(docs) == 10 + 2 + 3 + 1 - 1 - 2 + 3 + 1  # reads go to the real collection
        stats = dw.stats()
    assert stats.target_failures == 0

    # The journal holds exactly the successful writes, each once, in order.
    def u(i: int) -> str:
        return str(uuid.UUID(int=i))

    entries = journal(tmp_path, "m")
    assert entries == [
        (None, u(1), "upsert"), (None, str(made), "upsert"),
        *[(None, u(10 + i), "upsert") for i in range(3)],
        (None, u(30), "upsert"), (None, u(10), "upsert"), (None, u(11), "upsert"),
        (None, str(made), "delete"), (None, u(98), "delete"), (None, u(12), "delete"), (None, u(30), "delete"),
        *[(None, str(i), "upsert") for i in batch_ids[:3]], (None, u(60), "upsert")]

    # The target holds what Weaviate stored (the partial update whole); the bulk copy and a sync complete it.
    mirrored = {r.id: r for b in tgt.read_batches("docs_v2", batch_size=100) for r in b.records()}
    assert mirrored[u(11)].metadata == {"title": "m1", "n": 11, "category": "patched"}
    assert mirrored[u(10)].metadata["title"] == "replaced"
    assert u(59) not in mirrored and u(31) not in mirrored and u(12) not in mirrored and u(1) in mirrored
    assert resume("m", store).result.status == "completed"
    assert sync_migration("m", store, connectors=(src, tgt))["lag"]["entries"] == 0
    plan = MigrationPlan.from_json(store.get("m").plan or {}, tgt.capabilities)
    assert assert_target_equals_source(src, "Docs", tgt, plan) == len(docs)
    src.close()


# -- end to end: the bulk copy runs, the application writes through the wrapper, the target sometimes fails --------
class App(threading.Thread):
    """Random inserts, insert_many, replaces, partial updates, deletes by id and by filter, and batches, in both
    tenants, through the wrapped collection (tracking what each tenant holds, so every call is a valid one)."""

    def __init__(self, docs: DualWriteWeaviateCollection, live: dict[str, dict[str, int]]) -> None:
        super().__init__(name="app", daemon=True)
        self.docs, self.live = docs, live
        self.rng = np.random.default_rng(11)
        self.stop = threading.Event()
        self.ops = 0
        self.error: BaseException | None = None

    def props(self, n: int, category: str = "app") -> dict[str, Any]:
        return {"title": f"written by the app #{self.ops}", "n": n, "category": category}

    def step(self) -> None:
        tenant = TENANTS[int(self.rng.integers(0, len(TENANTS)))]
        coll, live = self.docs.with_tenant(tenant), self.live[tenant]
        roll = self.rng.random()
        pick = sorted(live)[int(self.rng.integers(0, len(live)))] if live else None
        n = 100_000 + 10 * self.ops  # unique: a delete by n removes exactly one object
        if self.ops % 20 == 10:  # a batching context costs the client about a second: now and then
            with (coll.batch.fixed_size(batch_size=2) if self.ops % 40 == 10 else coll.batch.dynamic()) as batch:
                for i in range(3):
                    live[str(batch.add_object(properties=self.props(n + i), vector=vec(self.rng)))] = n + i
        elif roll < 0.25 or pick is None:
            rid = coll.data.insert(self.props(n), vector=vec(self.rng))
            live[str(rid)] = n
        elif roll < 0.45:
            coll.data.replace(pick, self.props(live[pick]), vector=vec(self.rng))
        elif roll < 0.6:
            coll.data.update(pick, {"category": f"patched-{self.ops}"})
        elif roll < 0.72:
            assert coll.data.delete_by_id(pick) is True
            del live[pick]
        elif roll < 0.84:
            coll.data.delete_many(where=Filter.by_property("n").equal(live[pick]))
            del live[pick]
        else:
            group = f"grp-{self.ops}"
            result = coll.data.insert_many([DataObject(properties=self.props(n + i, group), vector=vec(self.rng))
                                            for i in range(3)])
            live.update({str(u): n + i for i, u in result.uuids.items()})
        self.ops += 1

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except BaseException as exc:
            self.error = exc
            raise


@pytest.mark.parametrize("target", ["memory", "parquet"])
def test_writes_during_the_copy_end_exactly_equal_after_sync(tmp_path: Path, wv: WeaviateEmulator,
                                                              client: weaviate.WeaviateClient, target: str) -> None:
    src_ep = source_endpoint(wv)
    tgt_ep = Endpoint(target, "docs_v2", url=f"mem-{tmp_path.name}" if target == "memory" else str(tmp_path / "pq"))
    src, tgt = open_connector("weaviate", src_ep.config()), open_connector(target, tgt_ep.config())
    seed(src, N, TENANTS)
    live = {t: {str(r.id): int(r.metadata["n"]) for b in src.read_batches("Docs", batch_size=500)
                for r in b.records() if r.namespace == t} for t in TENANTS}
    assert sum(map(len, live.values())) == N
    store = StateStore(tmp_path / "state.db")
    spec = MigrationSpec("zd", src_ep, tgt_ep, batch_size=40, workers=2)
    victim = str(make_id(N - 1, "uuid"))  # in the copy's last batch: the copy waits there while the app writes
    live[TENANTS[-1]].pop(victim)  # the app leaves it alone
    gate = RaceGate(tgt, victim=-1)
    holder: dict[str, Any] = {}
    started = threading.Event()

    def on_started(plan: MigrationPlan) -> None:
        holder["plan"] = plan
        holder["dual"] = start_dual_write(spec, store, journal=tmp_path / "j.db")
        gate.victim = Transformer(plan).target_id(victim)
        started.set()

    def bulk_copy() -> None:
        holder["outcome"] = migrate(spec, store, connectors=(src, gate), on_started=on_started)

    copier = threading.Thread(target=bulk_copy, name="bulk-copy", daemon=True)
    copier.start()
    assert started.wait(60)
    assert holder["dual"]["coverage"] == "complete"
    plan: MigrationPlan = holder["plan"]
    flaky = FlakyTarget(tgt, every=5)
    dw = DualWriter.for_migration("zd", store=store, target=flaky)
    app = App(dual_write_collection(client.collections.get("Docs"), dw), live)
    app.start()

    assert gate.reached.wait(60), "the bulk copy never reached the victim's batch"
    deadline = time.monotonic() + 20
    while app.ops < 40 and time.monotonic() < deadline and app.is_alive():
        time.sleep(0.01)
    during = app.ops
    gate.release.set()
    copier.join(60)
    assert not copier.is_alive() and holder["outcome"].result.status == "completed"
    while app.ops < during + 20 and time.monotonic() < deadline + 20 and app.is_alive():
        time.sleep(0.01)
    app.stop.set()
    app.join(30)
    assert app.error is None, app.error
    assert during >= 40 and app.ops >= during + 20
    stats = dw.stats()
    assert flaky.failed > 0 and stats.target_failures == flaky.failed  # failed target writes never raised
    dw.close()

    result = sync_migration("zd", store)
    assert result["status"] == "completed" and result["lag"]["entries"] == 0
    compared = assert_target_equals_source(src, "Docs", tgt, plan)
    assert compared == sum(map(len, live.values())) + 1  # + the victim
    namespaces = {r.namespace for b in tgt.read_batches("docs_v2", batch_size=500) for r in b.records()}
    assert namespaces == {Transformer(plan).target_namespace(t) for t in TENANTS}
    tgt.close()
    src.close()
