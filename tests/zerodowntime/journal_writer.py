"""A writer process for the journal tests: ``python journal_writer.py LOCATION MIGRATION_ID TAG N``.

Appends ``N`` entries (ids ``TAG-0 .. TAG-N-1``, in batches of 1 to 3) to the journal at LOCATION and prints
``ok``. Several of these run at once to check that sequence numbers stay gapless and in commit order.
"""

from __future__ import annotations

import sys

from vectormigrate.zerodowntime.journal import open_journal


def main() -> None:
    location, mid, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    journal = open_journal(location)
    i = 0
    while i < n:
        size = 1 + i % 3
        ids = [f"{tag}-{k}" for k in range(i, min(n, i + size))]
        journal.append(mid, ids, namespace=None if i % 2 else tag, op="delete" if i % 5 == 0 else "upsert")
        i += len(ids)
    journal.close()
    print("ok")


if __name__ == "__main__":
    main()
