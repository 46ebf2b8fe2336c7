"""Reading users' text data files: every problem becomes one line naming the file, the line and
the fix (ConfigError), never a decoder's or parser's traceback."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from smat.errors import ConfigError


def read_text(path: str) -> str:
    """The file's text: UTF-8, with or without a byte-order mark."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
            "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8)"
        ) from None


def read_rows(path: str, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL):
    """(header, rows as dicts) of a delimited text file with a header line."""
    reader = csv.DictReader(
        io.StringIO(read_text(path), newline=""), delimiter=delimiter, quoting=quoting
    )
    try:
        rows = list(reader)
    except csv.Error as e:
        raise ConfigError(
            f"{path}:{reader.line_num}: not readable as {_kind(delimiter)} ({e})"
        ) from None
    header = reader.fieldnames or []
    if len(set(header)) < len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise ConfigError(f"{path}:1: column(s) {twice} appear twice in the header; rename them")
    return header, rows


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """One JSON object per non-empty line."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"{path}:{number}: not a JSON object ({e.msg}); one per line"
            ) from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{number}: a JSON {type(row).__name__}, not an object")
        rows.append(row)
    return rows


def _kind(delimiter: str) -> str:
    return "TSV" if delimiter == "\t" else "CSV"
