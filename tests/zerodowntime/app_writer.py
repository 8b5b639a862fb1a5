"""An application process for the multi-process test: ``python app_writer.py STATE_DB MIGRATION_ID SEED STOP_FILE``.

Opens the migration's dual-writer (plan, target and the registered journal, here PostgreSQL, all from the state
database), prints ``started`` after its first write, and keeps doing random upserts and deletes on ids 0..359
(every 5th target write fails) until STOP_FILE exists; then prints the dual-writer's stats as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from zd_helpers import FlakyTarget

from vectormigrate.connectors.registry import open_connector
from vectormigrate.datagen import make_id, make_records
from vectormigrate.service import spec_from_row
from vectormigrate.state.store import StateStore
from vectormigrate.zerodowntime import DualWriter


def main() -> None:
    state, mid, seed, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    store = StateStore(state)
    spec = spec_from_row(store.get(mid), None, None)
    target = FlakyTarget(open_connector(spec.target.type, spec.target.config()), every=5)
    rng = np.random.default_rng(seed)
    with DualWriter.for_migration(mid, store=store, target=target) as dw:
        k = 0
        while k < 20 or not stop.exists():
            i = int(rng.integers(0, 360))
            if rng.random() < 0.25:
                dw.delete([make_id(i)])
            else:
                dw.upsert(make_records(1, dim=16, start=i, seed=seed * 1000 + k))
            if k == 0:
                print("started", flush=True)
            k += 1
        print(json.dumps(dw.stats().to_json()))
    target.close()


if __name__ == "__main__":
    main()
