"""Stream the text member of a NIBRS master-file zip without extracting it.

The FBI ships `nibrs-YYYY.zip` with one member compressed with Deflate64 (method 9),
which CPython's zipfile cannot read. zipfile still parses the central directory (and
tells us a damaged archive apart from a good one); the member's bytes are then read
raw and inflated here, with zlib for Deflate and `inflate64` for Deflate64, by a child
process (start_inflating) that hands the bytes over in shared memory, so that inflating
runs on one core while the decoder slices on the other.
"""

from __future__ import annotations

import contextlib
import datetime
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
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d)(?!\d)")
FIRST_NIBRS_YEAR = 1991  # the FBI's first NIBRS master file


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


def nibrs_years() -> range:
    """The years a NIBRS master file can be of: 1991 to this year."""
    return range(FIRST_NIBRS_YEAR, datetime.date.today().year + 1)


def data_year(member: Member) -> int | None:
    """The data year named by the zip (`nibrs-2021.zip`) or the member (`2021_NIBRS_...`).

    A number that is no NIBRS year (`backup-2099.zip`) is passed over, not taken for one.
    """
    for text in (member.zip_path.name, Path(member.name).name):
        for found in _YEAR.finditer(text):
            if int(found.group(1)) in nibrs_years():
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
    if left > 0:  # the zip ends inside the member's compressed bytes
        raise DecodeError(
            f"{member.zip_path}: member {member.name} is truncated: the zip holds "
            f"{member.compressed_size - left:,} of its {member.compressed_size:,} compressed "
            "bytes; download it again"
        )
    # Every compressed byte was there, so a size or CRC unlike the declared one means the
    # bytes themselves are damaged (a corrupt Deflate64 stream can inflate to a byte more).
    if produced != member.size:
        raise DecodeError(
            f"{member.zip_path}: member {member.name} is corrupt: it inflates to "
            f"{produced:,} bytes where the zip declares {member.size:,}; download it again"
        )
    if crc != member.crc:
        raise DecodeError(
            f"{member.zip_path}: member {member.name} is corrupt: it fails its CRC check "
            f"(CRC-32 {crc:08x} where the zip declares {member.crc:08x}); download it again"
        )


SLOT_BYTES = 32 << 20  # one block of the decoder's; 16 MB blocks were no faster
SLOTS = 3  # one being sliced, two for the child to fill meanwhile
SLOT_HEAD = 1 << 20  # room before a slot's bytes for the record set the last block left over
SLOT_TAIL = 4 << 10  # room after them for the decoder's padding
_COUNTER = struct.Struct("<Q")


@dataclass
class InflatingChild:
    """A child process inflating one member into slots of memory shared with this one.

    The stream's bytes fill the slots in turn (``slot_bytes`` each, after a free head of
    SLOT_HEAD bytes). The child sends on its stdout the total it has written; the reader
    sends back on the child's stdin the total it has consumed, a slot at a time. Only those
    8-byte counters cross the pipes. A pipe carrying the bytes themselves cost two kernel
    copies and a page per 4 KB moved, and copying them out again a third pass: together
    about an eighth of the decoder's CPU time. The decoder slices each slot where it lies.
    """

    process: subprocess.Popen
    ring: mmap.mmap
    slot_bytes: int
    slots: int

    @property
    def stride(self) -> int:
        return SLOT_HEAD + self.slot_bytes + SLOT_TAIL

    def slot_start(self, position: int) -> int:
        """Where the stream's byte ``position`` lies in the ring."""
        slot, within = divmod(position, self.slot_bytes)
        return (slot % self.slots) * self.stride + SLOT_HEAD + within


def start_inflating(
    member: Member, slot_bytes: int = SLOT_BYTES, slots: int = SLOTS
) -> InflatingChild:
    """Start the child process that inflating_child reads.

    nibrs-decode starts it first thing, so that the child inflates the first blocks while
    NumPy and Arrow load (a quarter of a second: a tenth of decoding the benchmark year).
    Hand it to inflating_child, or to stop_inflating when it will not be read.
    """
    size = slots * (SLOT_HEAD + slot_bytes + SLOT_TAIL)
    fd = _anonymous_memory(size)
    try:
        ring = mmap.mmap(fd, size)
        process = subprocess.Popen(
            [sys.executable, "-m", "decoder.source", str(member.zip_path), str(fd),
             str(slot_bytes), str(slots)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(fd,), bufsize=0,
        )  # fmt: skip
    finally:
        os.close(fd)
    return InflatingChild(process, ring, slot_bytes, slots)


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
    # an array still viewing a slot keeps the mapping alive until it goes; then it is freed
    with contextlib.suppress(BufferError):
        child.ring.close()


class SlotReader:
    """The reading end of an InflatingChild, a slot at a time."""

    def __init__(self, child: InflatingChild):
        self.child = child
        self.notices = child.process.stdout.fileno()
        self.acks = child.process.stdin.fileno()
        os.set_blocking(self.notices, False)
        self.written = self.consumed = 0
        self.ended = False

    def next_slot(self) -> tuple[int, int]:
        """Where the next slot's bytes start in the ring and how many there are, once it is
        full or the stream has ended (0 bytes: the stream is over). It is the caller's until
        ``release``; the ring has SLOT_HEAD writable bytes before it and SLOT_TAIL after."""
        full = self.consumed + self.child.slot_bytes
        while self.written < full and not self.ended:
            written = _latest_counter(self.notices, wait=True)
            self.ended = written is None
            self.written = max(written or 0, self.written)
        return self.child.slot_start(self.consumed), min(full, self.written) - self.consumed

    def release(self, size: int) -> None:
        """Give the slot ``next_slot`` returned (``size`` bytes) back to the child."""
        self.consumed += size
        with contextlib.suppress(BrokenPipeError):  # the child is done, or failed: it says
            os.write(self.acks, _COUNTER.pack(self.consumed))


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
def inflating_child(member: Member, started: InflatingChild | None = None) -> Iterator[SlotReader]:
    """The member's bytes, inflated by a child process, a slot at a time (SlotReader).

    Inflating in a thread of this process looked free (zlib and inflate64 release the GIL)
    but every buffer they return needs the GIL back, and waiting for it cost the decoder
    half its speed. A child process inflates on the other core instead. ``started`` is a
    child start_inflating started for this member already. Read to the end inside the
    ``with``; a child that failed raises DecodeError on the way out.
    """
    child = started or start_inflating(member)
    try:
        yield SlotReader(child)
        error = child.process.stderr.read().decode(errors="replace").strip()
        if child.process.wait():
            raise DecodeError(error or f"{member.zip_path}: inflating failed")
    finally:
        stop_inflating(child)


def _inflate_into_slots(zip_path: str, fd: int, slot_bytes: int, slots: int) -> int:
    """Child side of InflatingChild: the member's bytes into the slots, counters on stdout.

    It runs ahead of the reader by up to ``slots`` slots, so inflating goes on while the
    decoder slices a block, and waits (for the reader's counter on stdin) only when all
    are full.
    """
    stride = SLOT_HEAD + slot_bytes + SLOT_TAIL
    ring = memoryview(mmap.mmap(fd, slots * stride))
    os.close(fd)
    acks, notices = sys.stdin.fileno(), sys.stdout.fileno()
    os.set_blocking(acks, False)
    capacity = slot_bytes * slots
    written = consumed = 0
    try:
        for piece in iter_inflated(open_member(zip_path)):
            copied, whole = 0, memoryview(piece)
            while copied < len(piece):
                free = capacity - (written - consumed)
                if free:
                    slot, within = divmod(written, slot_bytes)
                    at = (slot % slots) * stride + SLOT_HEAD + within
                    n = min(len(piece) - copied, free, slot_bytes - within)
                    ring[at : at + n] = whole[copied : copied + n]
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
    sys.exit(_inflate_into_slots(sys.argv[1], *map(int, sys.argv[2:5])))
