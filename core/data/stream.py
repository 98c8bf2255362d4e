"""Reading a data file in chunks, for predictions on files larger than memory should hold at once.

The formats, the encoding and separator guesses and the column detection are the training loader's
(core/data/tables.py, core/data/columns.py); only the reading is chunked: CSV, TSV and JSON Lines through
pandas' chunked readers, Parquet through pyarrow's record batches. A JSON file holding one list is read whole
(JSON has no streaming reader here); JSON Lines is the format to use for large files.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.common.errors import UserError
from core.data import tables
from core.data.columns import LABEL_NAMES, detect_text, is_text, label_strings

SNIFF_BYTES = 1 << 20  # the encoding and the separator are guessed from the first megabyte


@dataclass
class TableStream:
    """A data file opened for chunked reading: its format, how it is read, its columns and row count."""
    path: Path
    kind: str
    columns: list[str]
    rows: int
    encoding: str | None = None
    separator: str | None = None
    notes: list[str] = field(default_factory=list)


def open_table(path: str | Path, field_name: str = "--input") -> TableStream:
    """Check the file as the training loader does (exists, known format, not empty, not lying about its format),
    then count its rows in one chunked pass; a file with a header but no rows is one sentence."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"'{path}' does not exist or is not a file; check the path.", field=field_name,
                        code="FILE_NOT_FOUND")
    kind = tables.FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"'{path.name}' has the extension '{path.suffix or '(none)'}', which is not a supported "
                        f"format; save it as {tables.SUPPORTED_TEXT}.", field=field_name, code="UNKNOWN_FORMAT")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise UserError(f"'{path.name}' is empty; choose a file with a header row and data rows.",
                        field=field_name, code="EMPTY_FILE")
    tables._check_magic(head, kind, path.name, field_name)
    stream = TableStream(path, kind, [], 0)
    if kind in ("csv", "tsv", "jsonl", "json"):
        stream.encoding = _encoding_of_head(head)
    if kind in ("csv", "tsv"):
        text = head.decode(stream.encoding, errors="replace")
        stream.separator = tables.sniff_separator(text, "," if kind == "csv" else "\t")
    first = next(iter_chunks(stream, 1000, field_name), None)
    if first is None or first.empty or len(first.columns) == 0:
        raise UserError(f"'{path.name}' has a header but no data rows; add rows or choose another file.",
                        field=field_name, code="NO_ROWS")
    stream.columns = [str(c) for c in first.columns]
    stream.rows = count_rows(stream, field_name)
    return stream


def _encoding_of_head(head: bytes) -> str:
    """tables.encoding_of for the first megabyte: a UTF-8 character cut at its end does not count against UTF-8."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return tables.encoding_of(head)


def count_rows(stream: TableStream, field_name: str = "--input") -> int:
    """The number of data rows, without holding the file: Parquet's metadata, else one pass over the chunks."""
    if stream.kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(stream.path).metadata.num_rows
    return sum(len(chunk) for chunk in iter_chunks(stream, 50_000, field_name))


def iter_chunks(stream: TableStream, chunk_rows: int, field_name: str = "--input") -> Iterator[pd.DataFrame]:
    """The file's rows, `chunk_rows` at a time, with every column as read (all column names as text)."""
    try:
        for chunk in _raw_chunks(stream, chunk_rows):
            chunk.columns = [str(c).strip() for c in chunk.columns]
            yield chunk
    except UserError:
        raise
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        detail = " ".join(str(exc).split())[:160]
        raise UserError(f"'{stream.path.name}' cannot be read as {stream.kind.upper()} ({detail}); check its "
                        "format.", field=field_name, code="BAD_FILE") from None


def _raw_chunks(stream: TableStream, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if stream.kind in ("csv", "tsv"):
        yield from pd.read_csv(stream.path, sep=stream.separator, encoding=stream.encoding, chunksize=chunk_rows,
                               keep_default_na=False, na_values=[""], encoding_errors="replace")
    elif stream.kind == "jsonl":
        yield from pd.read_json(stream.path, lines=True, chunksize=chunk_rows, encoding=stream.encoding,
                                dtype=False, encoding_errors="replace")
    elif stream.kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(stream.path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    else:  # one JSON document: read whole, as the training loader does (it may also be JSON Lines saved as .json)
        frame, _ = tables.read_table(stream.path)
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start:start + chunk_rows]


def text_column_of(stream: TableStream, first: pd.DataFrame, asked: str | None, field_name: str) -> str:
    """The column asked for (it must exist and hold text), else the one training would detect."""
    listed = ", ".join(stream.columns)
    if asked:
        if asked not in first.columns:
            raise UserError(f"there is no column '{asked}' in '{stream.path.name}'; the columns are: {listed}.",
                            field=field_name, code="MISSING_COLUMN")
        if not is_text(first[asked]):
            raise UserError(f"column '{asked}' does not hold text; pick the column with the texts (columns: "
                            f"{listed}).", field=field_name, code="NOT_TEXT")
        return asked
    found = detect_text(first)
    if found is None:
        raise UserError(f"no column of '{stream.path.name}' holds text (columns: {listed}); name the column with "
                        "the texts.", field=field_name, code="MISSING_COLUMN")
    return found


def label_column_of(first: pd.DataFrame, text: str, label_names: list[str], preferred: str | None = None) -> str | None:
    """A column that holds the model's labels (the run's own label column first, then the usual names), or None."""
    by_lower = {c.lower(): c for c in first.columns if c != text}
    candidates = [preferred] if preferred in first.columns and preferred != text else []
    candidates += [by_lower[name] for name in LABEL_NAMES if name in by_lower]
    known = set(label_names)
    for column in candidates:
        values = first[column].dropna()
        values = values[values.map(lambda v: not (isinstance(v, str) and not v.strip()))]
        if not values.empty and set(label_strings(values, None)) <= known:
            return column
    return None
