"""The Chicago pull benchmark: one synthetic year from a local server, through a whole pull.

The server runs in its own process (``python -m testkit chicago-serve``), as the portal
would, so the figure is the client's: requests, JSON decoding, parsing, staging and the lake.
The load is left out unless asked for (``load=True``), since it would put synthetic rows into the
configured warehouse's ``raw.chicago_crimes``; the loader has its own benchmark.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

BENCH_YEAR = 2023


def bench_pull(
    folder: Path, *, rows: int = 250_000, page_size: int = 50_000, load: bool = False
) -> dict:
    """Serve ``rows`` rows of one year, pull them as a backfill, time the pull."""
    from crimewh.chicago.client import SodaClient
    from crimewh.chicago.pull import pull
    from crimewh.settings import Settings

    folder = Path(folder)
    data_dir = folder / f"run-{time.strftime('%Y%m%dT%H%M%S')}"
    server = subprocess.Popen(
        [sys.executable, "-m", "testkit", "chicago-serve", "--port", "0",
         "--rows", str(rows), "--years", f"{BENCH_YEAR}-{BENCH_YEAR}",
         "--truth-out", str(folder / "truth.parquet")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        if " at http://" not in line:
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        domain = line.split(" at http://", 1)[1].split("/", 1)[0]
        base = Settings.load()
        settings = replace(
            base, data_dir=data_dir, lake_url=f"file://{data_dir}/lake", soda_domain=domain,
            soda_page_size=page_size,
        )  # fmt: skip
        loader = None if load else _no_load
        started = time.perf_counter()
        with SodaClient.from_settings(settings) as client:
            result = pull(settings, years=(BENCH_YEAR, BENCH_YEAR), client=client, loader=loader)
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "bench": "chicago_pull",
        "rows": result.rows,
        "page_size": page_size,
        "pages": result.pages,
        "seconds": round(seconds, 2),
        "rows_per_s": round(result.rows / seconds),
        "loaded": load,
    }


def _no_load(settings, source, table, partition, *, lake=None):
    return None


if __name__ == "__main__":
    import json

    print(json.dumps(bench_pull(Path("data/bench/chicago"), rows=int(sys.argv[1]))))
