"""Several ingest workers open one fresh PostgreSQL store at the same moment (what
`baygate backend` x N does on a first start): every one must come up."""

from __future__ import annotations

import threading

from sync.store import Store, open_store


def test_workers_starting_together_on_a_fresh_database_all_open_it(pg_db: str) -> None:
    n = 8
    start = threading.Barrier(n)
    opened: list[Store] = []
    errors: list[Exception] = []

    def worker() -> None:
        start.wait()
        try:
            opened.append(open_store(pg_db))
        except Exception as exc:  # the test reports it below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in opened:
        s.close()
    assert errors == [] and len(opened) == n
