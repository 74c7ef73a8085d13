"""Spool files of CSV imports: created private, read in bounded chunks (never the
whole file in memory).

An upload holds customers' personal data: its spool directory is 0700 and owned by
this process's user (a directory someone else made, e.g. a pre-created
``/tmp/crm-ingest-spool``, is refused), each file is created 0600 and never reused.

Encoding: a UTF-8 BOM means UTF-8; else the first 64 KiB decoding as UTF-8 means
UTF-8; else Shift_JIS, read as cp932 (its Windows superset, which is what Japanese
cart exports and Excel actually write).
"""

from __future__ import annotations

import codecs
import csv
import itertools
import os
import stat
from pathlib import Path
from typing import IO, Any

from crm_ingest.domain.csv_columns import unique_header

_SNIFF_BYTES = 64 * 1024
_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "cp932": "cp932",
    "windows-31j": "cp932",
    "ms932": "cp932",
}

Row = tuple[int, dict[str | None, Any]]
"""``(line number where the row starts, DictReader row)``."""


class UnsafeSpoolDir(RuntimeError):
    """The spool directory is not this user's own private directory."""


def private_dir(directory: Path) -> Path:
    """``directory``, created 0700 if missing (an existing one of ours made 0700 too);
    UnsafeSpoolDir if it is a symlink, not a directory or owned by another user."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise UnsafeSpoolDir(f"{directory} is not a directory owned by this user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        directory.chmod(0o700)
    return directory


def create_private(path: Path) -> IO[bytes]:
    """A new file at ``path`` only this user can read (fails if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def canonical_encoding(name: str) -> str:
    """The codec to read a file declared as ``name``; ValueError if unsupported."""
    codec = _ALIASES.get(name.strip().lower())
    if codec is None:
        raise ValueError(f"unsupported encoding {name!r}; use utf-8 or shift_jis")
    return codec


def detect_encoding(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp932"
    return "utf-8"


class ChunkReader:
    """A csv.DictReader over the file, handing out rows a chunk at a time."""

    def __init__(self, path: Path, encoding: str) -> None:
        if encoding == "utf-8":
            encoding = "utf-8-sig"  # tolerate a BOM the sniffing did not see
        self._file = path.open("r", encoding=encoding, newline="")
        self._reader = csv.DictReader(self._file)
        # A header naming a column twice (EC-CUBE's 受注CSV has two 送料) would let
        # DictReader keep only the last cell: the repeats get names of their own.
        self.header: list[str] = unique_header(self._reader.fieldnames or [])
        self._reader.fieldnames = self.header

    def skip(self, rows: int) -> None:
        """Skip rows already committed by an earlier (crashed) run."""
        for _ in itertools.islice(self._reader, rows):
            pass

    def read(self, rows: int) -> list[Row]:
        out: list[Row] = []
        reader, ended = self._reader, self._reader.line_num
        for row in itertools.islice(reader, rows):
            line = reader.line_num
            # A row read from the one line after the last row's end starts there;
            # only a row that spans lines (or follows blank ones) needs counting.
            out.append((line if line == ended + 1 else line - _newlines(row), row))
            ended = line
        return out

    def close(self) -> None:
        self._file.close()


def _newlines(row: dict[str | None, Any]) -> int:
    count = 0
    for value in row.values():
        if isinstance(value, str):
            count += value.count("\n")
        elif isinstance(value, list):
            count += sum(v.count("\n") for v in value if isinstance(v, str))
    return count
