"""A decoding worker process: ``python -m decoder.worker OUT YEAR PART ENGINE COMPRESSION``.

Started by decode.decode_zip for large files. It reads one task per line on stdin (JSON:
a block's place in the member and the shared-memory segment holding its bytes), decodes it
into its own part of every segment's table, and answers one JSON line per block on stdout;
``null`` ends the stream and it answers with its tally. A plain subprocess rather than
multiprocessing, so the caller's ``__main__`` is never re-imported.
"""

from __future__ import annotations

import json
import sys
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path

import numpy as np

from decoder.decode import PADDING, _BlockDecoder


def serve(out_dir: Path, year: int, part: str, engine: str, compression: str) -> int:
    decoder = _BlockDecoder(out_dir, year, part, engine, compression)
    answer = sys.stdout
    try:
        for line in sys.stdin:
            task = json.loads(line)
            if task is None:
                break
            memory = shared_memory.SharedMemory(name=task["memory"])
            # the parent owns the segment; without this Python < 3.13 unlinks it at our exit
            resource_tracker.unregister(memory._name, "shared_memory")
            try:
                block = np.ndarray((task["size"] + PADDING,), np.uint8, buffer=memory.buf)
                decoder.decode_block(block, task["size"], task["first_line"], task["carried_ori"])
                del block
            finally:
                memory.close()
            print(json.dumps({"done": task["index"]}), file=answer, flush=True)
        print(json.dumps({"finished": decoder.finish()}), file=answer, flush=True)
    except BaseException as exc:
        decoder.abort()
        print(json.dumps({"failed": f"{type(exc).__name__}: {exc}"}), file=answer, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6]))
