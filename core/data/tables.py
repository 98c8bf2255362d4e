"""Reading a data file a person brought: CSV, TSV, JSON, JSON Lines or Parquet, whatever its encoding.

Every problem is one sentence naming the field, what is wrong and what to do; what was guessed
(the encoding, the separator) comes back as notes so the page and the log can say it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd

from core.common.errors import UserError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}
SUPPORTED_TEXT = "CSV, TSV, JSON, JSON Lines or Parquet"
# Tried in order: UTF-8 (most files), Windows' Western code page (Excel exports), then Latin-1, which never fails.
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
MAGIC = {b"PAR1": "Parquet", b"PK\x03\x04": "zip (an Excel workbook?)", b"\x1f\x8b": "gzip"}


def read_table(path: str | Path, field: str = "data.path") -> tuple[pd.DataFrame, list[str]]:
    """The file as a frame (all columns as read) and notes on what was guessed."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"'{path}' does not exist or is not a file; check the path.", field=field,
                        code="FILE_NOT_FOUND")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"'{path.name}' has the extension '{path.suffix or '(none)'}', which is not a supported "
                        f"format; save it as {SUPPORTED_TEXT} (.csv, .tsv, .json, .jsonl, .parquet).", field=field,
                        code="UNKNOWN_FORMAT")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"'{path.name}' is empty; choose a file with a header row and data rows.", field=field,
                        code="EMPTY_FILE")
    _check_magic(raw, kind, path.name, field)
    if kind == "parquet":
        frame, notes = _read_parquet(raw, path.name, field), []
    else:
        text, notes = decode(raw)
        frame = _parse_text(kind, text, path.name, field, notes)
    if len(frame.columns) == 0 or len(frame) == 0:
        raise UserError(f"'{path.name}' has a header but no data rows; add rows or choose another file.",
                        field=field, code="NO_ROWS")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, notes


def _check_magic(raw: bytes, kind: str, name: str, field: str) -> None:
    """Catch a file whose extension lies about its contents (a Parquet file saved as .csv, an .xlsx renamed)."""
    real = next((label for magic, label in MAGIC.items() if raw.startswith(magic)), None)
    if kind == "parquet" and real != "Parquet":
        raise UserError(f"'{name}' is not a Parquet file (it is text or another format); give it its real "
                        f"extension (.csv, .tsv, .json, .jsonl).", field=field, code="WRONG_EXTENSION")
    if kind != "parquet" and (real or b"\x00" in raw[:4096]):
        what = real or "binary data"
        fix = "rename it to .parquet" if real == "Parquet" else f"save it as {SUPPORTED_TEXT}"
        raise UserError(f"'{name}' holds {what}, not {kind.upper()} text; {fix}.", field=field,
                        code="WRONG_EXTENSION")


def encoding_of(raw: bytes) -> str:
    """The codec the bytes are read with: 'utf-8-sig' (UTF-8 with a BOM), 'utf-8', else the first fallback that
    decodes. Decoding with it and errors='replace' gives exactly the text `decode` returns."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for encoding in ("utf-8", *FALLBACK_ENCODINGS):
        try:
            raw.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def decode(raw: bytes) -> tuple[str, list[str]]:
    """Text of the bytes: UTF-8 (a BOM is removed), else the first fallback that decodes, named in a note."""
    encoding = encoding_of(raw)
    text = raw.decode(encoding, errors="replace")
    if encoding == "utf-8-sig":
        return text, ["The file starts with a UTF-8 byte-order mark (BOM); it was removed."]
    if encoding == "utf-8":
        return text, []
    return text, [f"The file is not UTF-8; it was read as {encoding}. Check a few rows in the preview, and save it "
                  "as UTF-8 if characters look wrong."]


def reading_facts(path: str | Path) -> dict:
    """How `read_table` reads this (valid) file, as plain values a script can apply: format ('csv', 'jsonl',
    'json' or 'parquet'), encoding, separator, and for JSON the key whose list holds the rows (or None)."""
    raw = Path(path).read_bytes()
    kind = FORMATS[Path(path).suffix.lower()]
    if kind == "parquet":
        return {"format": "parquet", "encoding": None, "separator": None, "json_key": None}
    encoding = encoding_of(raw)
    text = raw.decode(encoding, errors="replace")
    facts = {"format": kind, "encoding": encoding, "separator": None, "json_key": None}
    if kind in ("csv", "tsv"):
        facts.update(format="csv", separator=sniff_separator(text, "," if kind == "csv" else "\t"))
    elif kind == "json":
        try:
            facts["json_key"] = json_rows_key(json.loads(text))
        except json.JSONDecodeError:  # read as JSON Lines, as _parse_json does
            facts["format"] = "jsonl"
    return facts


def sniff_separator(text: str, default: str) -> str:
    """The separator that splits the header line into the most columns (ties keep the format's default)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: len(next(csv.reader([header], delimiter=sep), [])) for sep in SEPARATORS}
    best = max(counts.values())
    return default if counts[default] == best else max(counts, key=counts.get)


def _parse_text(kind: str, text: str, name: str, field: str, notes: list[str]) -> pd.DataFrame:
    if kind in ("csv", "tsv"):
        default = "," if kind == "csv" else "\t"
        separator = sniff_separator(text, default)
        if separator != default:
            notes.append(f"Columns are separated by {SEPARATOR_NAMES[separator]}s, not "
                         f"{SEPARATOR_NAMES[default]}s; read that way.")
        try:
            return pd.read_csv(io.StringIO(text), sep=separator, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            detail = " ".join(str(exc).split())[:160]
            raise UserError(f"'{name}' cannot be read as {kind.upper()} ({detail}); check its separator and "
                            "quotes.", field=field, code="BAD_FILE") from None
    return _parse_json(kind, text, name, field)


def _parse_json(kind: str, text: str, name: str, field: str) -> pd.DataFrame:
    if kind == "json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":  # "Extra data": one object per line, that is JSON Lines
                raise UserError(f"'{name}' is not valid JSON (line {exc.lineno}: {exc.msg}); fix it or save it as "
                                "JSON Lines.", field=field, code="BAD_FILE") from None
        else:
            return _records_frame(value, name, field)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(f"'{name}' line {number} is not valid JSON ({exc.msg}); JSON Lines needs one "
                                "object per line.", field=field, code="BAD_FILE") from None
    return _records_frame(rows, name, field)


def _records_frame(value, name: str, field: str) -> pd.DataFrame:
    """A list of objects, an object of column lists, or an object with one such list inside ('data', 'rows')."""
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if json_rows_key(value) is not None:
            value = value[json_rows_key(value)]
        elif lists and len(lists) == len(value) and len({len(v) for v in lists}) == 1:
            return pd.DataFrame(value)
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise UserError(f"'{name}' is JSON but not a list of rows; write it as [{{\"text\": ..., \"label\": ...}}, "
                        "...] or as JSON Lines.", field=field, code="BAD_FILE")
    return pd.DataFrame(value)


def json_rows_key(value) -> str | None:
    """The key of an object's only list, when that list holds rows ({"data": [{...}, ...]})."""
    if not isinstance(value, dict):
        return None
    keys = [k for k, v in value.items() if isinstance(v, list)]
    return keys[0] if len(keys) == 1 and value[keys[0]] and isinstance(value[keys[0]][0], dict) else None


def _read_parquet(raw: bytes, name: str, field: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
        raise UserError(f"'{name}' cannot be read as Parquet ({type(exc).__name__}); export it again.",
                        field=field, code="BAD_FILE") from None
