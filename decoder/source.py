"""Stream the text member of a NIBRS master-file zip without extracting it.

The FBI ships `nibrs-YYYY.zip` with one member compressed with Deflate64 (method 9),
which CPython's zipfile cannot read. zipfile still parses the central directory (and
tells us a damaged archive apart from a good one); the member's bytes are then read
raw and inflated here, with zlib for Deflate and `inflate64` for Deflate64. Both
release the GIL, so inflating in one thread overlaps with slicing in another.
"""

from __future__ import annotations

import contextlib
import fcntl
import queue
import re
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STORED, DEFLATED, DEFLATE64 = 0, 8, 9
METHOD_NAMES = {STORED: "stored", DEFLATED: "deflate", DEFLATE64: "deflate64"}
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_YEAR = re.compile(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)")


class DecodeError(Exception):
    """Input the decoder cannot read; the message names the file and what to do."""


@dataclass(frozen=True)
class Member:
    zip_path: Path
    name: str
    method: int
    compressed_size: int
    size: int
    crc: int
    data_offset: int  # where the compressed bytes start in the zip

    @property
    def method_name(self) -> str:
        return METHOD_NAMES.get(self.method, f"method {self.method}")


def open_member(zip_path: str | Path) -> Member:
    """Find the master-file member: the only one, or the largest, whatever its name."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise DecodeError(f"{zip_path}: no such file")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and i.file_size > 0]
    except zipfile.BadZipFile as exc:
        raise DecodeError(
            f"{zip_path}: not a readable zip archive ({exc}); the file is truncated or "
            "corrupt, download it again"
        ) from exc
    if not infos:
        raise DecodeError(f"{zip_path}: the zip holds no file with any content to decode")
    info = max(infos, key=lambda i: i.file_size)
    if info.compress_type not in METHOD_NAMES:
        raise DecodeError(
            f"{zip_path}: member {info.filename} uses zip compression method "
            f"{info.compress_type}; only stored, deflate and deflate64 are supported"
        )
    if info.flag_bits & 0x1:
        raise DecodeError(f"{zip_path}: member {info.filename} is encrypted")
    with zip_path.open("rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise DecodeError(
            f"{zip_path}: the local header of {info.filename} is damaged; download it again"
        )
    fields = _LOCAL_HEADER.unpack(header)
    name_len, extra_len = fields[-2], fields[-1]
    return Member(
        zip_path=zip_path,
        name=info.filename,
        method=info.compress_type,
        compressed_size=info.compress_size,
        size=info.file_size,
        crc=info.CRC,
        data_offset=info.header_offset + _LOCAL_HEADER.size + name_len + extra_len,
    )


def data_year(member: Member) -> int | None:
    """The data year named by the zip (`nibrs-2021.zip`) or the member (`2021_NIBRS_...`)."""
    for text in (member.zip_path.name, Path(member.name).name):
        found = _YEAR.search(text)
        if found:
            return int(found.group(1))
    return None


def _decompressor(method: int):
    if method == DEFLATED:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress
    if method == DEFLATE64:
        import inflate64

        return inflate64.Inflater().inflate
    return bytes


def iter_inflated(member: Member, read_size: int = 4 << 20) -> Iterator[bytes]:
    """Yield the member's uncompressed bytes in pieces, checking size and CRC at the end."""
    decompress = _decompressor(member.method)
    crc, produced = 0, 0
    left = member.compressed_size
    # One reused input buffer: inflate64 1.0.4 keeps a reference to every buffer it is
    # given, which would otherwise hold the whole compressed member in memory.
    staging = memoryview(bytearray(read_size))
    with member.zip_path.open("rb") as fh:
        fh.seek(member.data_offset)
        while left > 0:
            got = fh.readinto(staging[: min(read_size, left)])
            if not got:
                break
            left -= got
            try:
                out = decompress(staging[:got])
            except (zlib.error, ValueError, RuntimeError) as exc:
                raise DecodeError(
                    f"{member.zip_path}: member {member.name} is corrupt near compressed byte "
                    f"{member.compressed_size - left:,} ({exc}); download it again"
                ) from exc
            if out:
                crc = zlib.crc32(out, crc)
                produced += len(out)
                yield out
    if left > 0 or produced != member.size:
        raise DecodeError(
            f"{member.zip_path}: member {member.name} is truncated: got {produced:,} of "
            f"{member.size:,} bytes; download it again"
        )
    if crc != member.crc:
        raise DecodeError(
            f"{member.zip_path}: member {member.name} fails its CRC check; the download is "
            "corrupt, fetch it again"
        )


PIPE_BYTES = 1 << 20


def start_inflating(member: Member) -> subprocess.Popen:
    """Start the child process that inflating_child reads.

    nibrs-decode starts it first thing, so that the child inflates the first blocks while
    NumPy and Arrow load (a quarter of a second: a tenth of decoding the benchmark year).
    Hand it to inflating_child, or to stop_inflating when it will not be read.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "decoder.source", str(member.zip_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: fewer, larger reads
        with contextlib.suppress(OSError):
            fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return child


def stop_inflating(child: subprocess.Popen) -> None:
    """End a child that was started and not (or not wholly) read; no-op once it has ended."""
    if child.poll() is None:
        child.kill()
        child.wait()
    child.stdout.close()
    child.stderr.close()


@contextlib.contextmanager
def inflating_child(member: Member, started: subprocess.Popen | None = None) -> Iterator[BinaryIO]:
    """A pipe streaming the member's bytes, inflated by a child process.

    Inflating in a thread of this process looked free (zlib and inflate64 release the GIL)
    but every buffer they return needs the GIL back, and waiting for it cost the decoder
    half its speed. A child process inflates on the other core instead. ``started`` is a
    child start_inflating started for this member already. Read the pipe to its end inside
    the ``with``; a child that failed raises DecodeError on the way out.
    """
    child = started or start_inflating(member)
    try:
        yield child.stdout
        error = child.stderr.read().decode(errors="replace").strip()
        if child.wait():
            raise DecodeError(error or f"{member.zip_path}: inflating failed")
    finally:
        stop_inflating(child)


def _inflate_to_stdout(zip_path: str, ahead: int = 16) -> int:
    """Child side of inflating_child: the member's bytes to stdout.

    A writer thread drains a queue into the pipe, so inflating runs ahead of the reader by
    up to ``ahead`` pieces (4 MB each) while the decoder is busy slicing a block. Two
    blocks' worth: with less, inflating stalled while a block was sliced, and the decoder
    then waited for it (measured: 3.5 s against 3.1 s for a 484 MB member).
    """
    pieces: queue.Queue = queue.Queue(maxsize=ahead)
    out = sys.stdout.buffer

    def write() -> None:
        while (piece := pieces.get()) is not None:
            out.write(piece)
        out.flush()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        for piece in iter_inflated(open_member(zip_path)):
            pieces.put(piece)
            if not writer.is_alive():  # the reader went away
                return 1
        pieces.put(None)
        writer.join()
    except DecodeError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_inflate_to_stdout(sys.argv[1]))
