"""Stream the text member of a NIBRS master-file zip without extracting it.

The FBI ships `nibrs-YYYY.zip` with one member compressed with Deflate64 (method 9),
which CPython's zipfile cannot read. zipfile still parses the central directory (and
tells us a damaged archive apart from a good one); the member's bytes are then read
raw and inflated here, with zlib for Deflate and `inflate64` for Deflate64. Both
release the GIL, so inflating in one thread overlaps with slicing in another.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def iter_inflated(member: Member, read_size: int = 1 << 20) -> Iterator[bytes]:
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


RING_BYTES = 64 << 20  # two blocks: room for the next one while one is sliced
_COUNTER = struct.Struct("<Q")


@dataclass
class InflatingChild:
    """A child process inflating one member into a ring of memory shared with this one.

    The child copies inflated bytes into ``ring`` and sends, on its stdout, the total it has
    written; the reader sends back, on the child's stdin, the total it has consumed. Only
    those 8-byte counters cross the pipes. A pipe carrying the bytes themselves cost two
    kernel copies and a page per 4 KB moved: a tenth of the decoder's CPU time.
    """

    process: subprocess.Popen
    ring: mmap.mmap


def start_inflating(member: Member, ring_bytes: int = RING_BYTES) -> InflatingChild:
    """Start the child process that inflating_child reads.

    nibrs-decode starts it first thing, so that the child inflates the first blocks while
    NumPy and Arrow load (a quarter of a second: a tenth of decoding the benchmark year).
    Hand it to inflating_child, or to stop_inflating when it will not be read.
    """
    fd = _anonymous_memory(ring_bytes)
    try:
        ring = mmap.mmap(fd, ring_bytes)
        process = subprocess.Popen(
            [sys.executable, "-m", "decoder.source", str(member.zip_path), str(fd),
             str(ring_bytes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(fd,), bufsize=0,
        )  # fmt: skip
    finally:
        os.close(fd)
    return InflatingChild(process, ring)


def _anonymous_memory(size: int) -> int:
    """A descriptor of ``size`` bytes of memory that no name points to: nothing to clean up
    however this process ends. A child maps it through the inherited descriptor."""
    if hasattr(os, "memfd_create"):  # Linux
        fd = os.memfd_create("nibrs-inflated")
    else:
        with tempfile.TemporaryFile() as unnamed:
            fd = os.dup(unnamed.fileno())
    os.ftruncate(fd, size)
    return fd


def stop_inflating(child: InflatingChild) -> None:
    """End a child that was started and not (or not wholly) read; no-op once it has ended."""
    process = child.process
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        stream.close()
    child.ring.close()


class _RingReader:
    """The reading end of an InflatingChild: ``readinto`` as on a pipe, 0 at the end."""

    def __init__(self, child: InflatingChild):
        self.view = memoryview(child.ring)
        self.size = len(child.ring)
        self.notices = child.process.stdout.fileno()
        self.acks = child.process.stdin.fileno()
        os.set_blocking(self.notices, False)
        self.written = self.consumed = 0
        self.ended = False

    def readinto(self, target: memoryview) -> int:
        if not self.ended:  # what the child wrote since: one cheap read, waiting only if empty
            written = _latest_counter(self.notices, wait=self.written == self.consumed)
            self.ended = written is None
            self.written = self.written if written is None else max(written, self.written)
        if self.written == self.consumed:
            return 0  # the child closed its end and every byte it wrote was read
        at = self.consumed % self.size
        n = min(len(target), self.written - self.consumed, self.size - at)
        target[:n] = self.view[at : at + n]
        self.consumed += n
        with contextlib.suppress(BrokenPipeError):  # the child is done, or failed: it says
            os.write(self.acks, _COUNTER.pack(self.consumed))
        return n

    def close(self) -> None:
        self.view.release()


def _latest_counter(fd: int, wait: bool) -> int | None:
    """The last counter the other side sent on ``fd`` (a non-blocking pipe); 0 when none
    has come, None when the pipe is closed and drained. ``wait`` blocks until one comes."""
    if wait:
        select.select([fd], [], [])
    latest = 0
    while True:
        try:
            data = os.read(fd, 1 << 16)  # a multiple of 8, and 8-byte writes are atomic
        except BlockingIOError:
            return latest
        if not data:
            return latest or None
        latest = _COUNTER.unpack_from(data, len(data) - _COUNTER.size)[0]


@contextlib.contextmanager
def inflating_child(member: Member, started: InflatingChild | None = None) -> Iterator[_RingReader]:
    """The member's bytes, inflated by a child process, read with ``readinto``.

    Inflating in a thread of this process looked free (zlib and inflate64 release the GIL)
    but every buffer they return needs the GIL back, and waiting for it cost the decoder
    half its speed. A child process inflates on the other core instead. ``started`` is a
    child start_inflating started for this member already. Read to the end inside the
    ``with``; a child that failed raises DecodeError on the way out.
    """
    child = started or start_inflating(member)
    reader = _RingReader(child)
    try:
        yield reader
        error = child.process.stderr.read().decode(errors="replace").strip()
        if child.process.wait():
            raise DecodeError(error or f"{member.zip_path}: inflating failed")
    finally:
        reader.close()
        stop_inflating(child)


def _inflate_into_ring(zip_path: str, fd: int, size: int) -> int:
    """Child side of InflatingChild: the member's bytes into the ring, counters on stdout.

    It runs ahead of the reader by up to the ring's size, so inflating goes on while the
    decoder slices a block, and waits (for the reader's counter on stdin) only when full.
    """
    view = memoryview(mmap.mmap(fd, size))
    os.close(fd)
    acks, notices = sys.stdin.fileno(), sys.stdout.fileno()
    os.set_blocking(acks, False)
    written = consumed = 0
    try:
        for piece in iter_inflated(open_member(zip_path)):
            copied, whole = 0, memoryview(piece)
            while copied < len(piece):
                free = size - (written - consumed)
                if free:
                    at = written % size
                    n = min(len(piece) - copied, free, size - at)
                    view[at : at + n] = whole[copied : copied + n]
                    copied += n
                    written += n
                    os.write(notices, _COUNTER.pack(written))
                heard = _latest_counter(acks, wait=not free)
                if heard is None:  # the reader went away
                    return 1
                consumed = max(consumed, heard)
    except DecodeError as exc:
        print(exc, file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_inflate_into_ring(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
