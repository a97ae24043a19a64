"""Stream the text member of a NIBRS master-file zip without extracting it.

The FBI ships `nibrs-YYYY.zip` with one member compressed with Deflate64 (method 9),
which CPython's zipfile cannot read. zipfile still parses the central directory (and
tells us a damaged archive apart from a good one); the member's bytes are then read
raw and inflated here, with zlib for Deflate and `inflate64` for Deflate64. Both
release the GIL, so inflating in one thread overlaps with slicing in another.
"""

from __future__ import annotations

import re
import struct
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


def iter_inflated(member: Member, read_size: int = 4 << 20) -> Iterator[bytes]:
    """Yield the member's uncompressed bytes in pieces, checking size and CRC at the end."""
    decompress = _decompressor(member.method)
    crc, produced = 0, 0
    left = member.compressed_size
    with member.zip_path.open("rb") as fh:
        fh.seek(member.data_offset)
        while left > 0:
            block = fh.read(min(read_size, left))
            if not block:
                break
            left -= len(block)
            try:
                out = decompress(block)
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
