"""Write a one-member zip, streaming, with Deflate or Deflate64 (method 9).

CPython's zipfile cannot write Deflate64, which is what the FBI ships, so synthetic
master files and tests write their zips here. Zip64 fields are always written, so a
member of any size (a full year is ~6 GB) streams through without knowing it up front.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from decoder.source import DEFLATE64, DEFLATED

_ZIP64_VERSION = 45
_UNKNOWN32 = 0xFFFFFFFF
STAGING_BYTES = 4 << 20


def _dos_time(moment: time.struct_time) -> tuple[int, int]:
    dos_time = moment.tm_hour << 11 | moment.tm_min << 5 | moment.tm_sec // 2
    dos_date = (moment.tm_year - 1980) << 9 | moment.tm_mon << 5 | moment.tm_mday
    return dos_time, dos_date


def _through_staging(compress: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Feed ``compress`` through one reused buffer.

    inflate64 1.0.4's Deflater keeps a reference to every buffer it is given, so handing it
    the pieces themselves would hold the whole member (6 GB for a full year) in memory.
    """
    staging = memoryview(bytearray(STAGING_BYTES))

    def staged(piece: bytes) -> bytes:
        view = memoryview(piece)
        out = []
        for start in range(0, len(view), STAGING_BYTES):
            part = view[start : start + STAGING_BYTES]
            staging[: len(part)] = part
            out.append(compress(staging[: len(part)]))
        return b"".join(out)

    return staged


def write_zip(
    zip_path: str | Path,
    member: str,
    pieces: Iterable[bytes],
    *,
    deflate64: bool = False,
    level: int = 6,
    modified: time.struct_time | None = None,
) -> int:
    """Write ``pieces`` as the single member ``member``; returns the uncompressed size."""
    method = DEFLATE64 if deflate64 else DEFLATED
    if deflate64:
        import inflate64

        deflater = inflate64.Deflater()
        compress, flush = _through_staging(deflater.deflate), deflater.flush
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        compress, flush = compressor.compress, compressor.flush
    name = member.encode()
    dos_time, dos_date = _dos_time(modified or time.gmtime(0 + 315532800))  # 1980-01-01
    crc = size = compressed = 0

    def local_header() -> bytes:
        extra = struct.pack("<HHQQ", 0x0001, 16, size, compressed)
        return struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, _ZIP64_VERSION, 0, method, dos_time, dos_date,
            crc, _UNKNOWN32, _UNKNOWN32, len(name), len(extra),
        ) + name + extra  # fmt: skip

    with Path(zip_path).open("wb") as fh:
        fh.write(local_header())  # sizes and CRC are patched in once known
        for piece in pieces:
            crc = zlib.crc32(piece, crc)
            size += len(piece)
            out = compress(piece)
            compressed += len(out)
            fh.write(out)
        out = flush()
        compressed += len(out)
        fh.write(out)
        central_offset = fh.tell()
        fh.seek(0)
        fh.write(local_header())
        fh.seek(central_offset)
        extra = struct.pack("<HHQQ", 0x0001, 16, size, compressed)
        central = struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, _ZIP64_VERSION, _ZIP64_VERSION, 0, method,
            dos_time, dos_date, crc, _UNKNOWN32, _UNKNOWN32, len(name), len(extra), 0, 0, 0,
            0, 0,
        ) + name + extra  # fmt: skip
        fh.write(central)
        end64_offset = fh.tell()
        fh.write(
            struct.pack(
                "<IQHHIIQQQQ",
                0x06064B50,
                44,
                _ZIP64_VERSION,
                _ZIP64_VERSION,
                0,
                0,
                1,
                1,
                len(central),
                central_offset,
            )
        )
        fh.write(struct.pack("<IIQI", 0x07064B50, 0, end64_offset, 1))
        fh.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                1,
                1,
                len(central),
                min(central_offset, _UNKNOWN32),
                0,
            )
        )
    return size
