"""Reading uploaded import files (CSV, XLSX) row by row, without holding a whole file in memory.

The first row of the file is the header row; data rows are numbered from 0 after it, so data row
`n` is spreadsheet row `n + 2`. Empty rows inside the data are yielded (as empty lists)
to keep that numbering; empty rows at the end are not.

Reading is blocking work: callers run it in a thread, never on the event loop. `survey`
checks a file against `Limits` before a job is made of it: an XLSX's declared uncompressed
sizes and compression ratios before it is opened (a small ZIP can unpack to gigabytes), then
rows, columns and cell sizes while the rows are counted.
"""

import asyncio
import codecs
import csv
import datetime as dt
import multiprocessing
import zipfile
from collections.abc import Generator, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Literal

import openpyxl

SheetFormat = Literal["csv", "xlsx"]

_SNIFF_BYTES = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy binary .xls (and .doc)
_CSV_EXTENSIONS = frozenset({".csv", ".txt", ".tsv"})
_XLSX_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
# The main part's content type of a workbook, in [Content_Types].xml (ODS and DOCX are ZIPs too).
_WORKBOOK_CONTENT_TYPES = (b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml")
_DELIMITERS = (",", ";", "\t")


class UnsupportedFile(Exception):
    """Not a CSV or XLSX file we can read (legacy .xls, another ZIP-based format, unknown type)."""


class FileRefused(Exception):
    """A readable file over a limit (`status` 413: too big to unpack) or malformed (`422`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)  # both in args: it crosses from the reader process pickled
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Limits:
    max_rows: int = 1_000_000  # data rows, blank ones included (they cost reading too)
    max_columns: int = 200
    max_cell_chars: int = 32 * 1024
    max_uncompressed_bytes: int = 500 * 1024 * 1024  # an XLSX's parts, as its ZIP declares them
    max_compression_ratio: float = 100.0  # uncompressed / compressed, of the whole XLSX and of each large part


@dataclass(frozen=True)
class Survey:
    format: SheetFormat
    headers: list[str]
    rows_total: int  # data rows with at least one non-blank cell


# The csv module's own cap on a field (its default); a longer cell is refused like any too-long cell.
CSV_FIELD_LIMIT = csv.field_size_limit()
# Parts smaller than this are not judged by their ratio: small repetitive XML compresses well.
_RATIO_FLOOR_BYTES = 1024 * 1024


def survey(path: Path, filename: str, limits: Limits) -> Survey:
    """Format, header row and number of data rows of an upload, checked against `limits`.

    Raises `UnsupportedFile` for what is not a CSV or XLSX, `FileRefused` for a file over a
    limit or unreadable partway (naming the row and column).
    """
    fmt = detect_format(path, filename)
    if fmt == "xlsx":
        check_archive(path, limits)
    rows = _csv_rows(path) if fmt == "csv" else _xlsx_rows(path)
    headers: list[str] | None = None
    total = 0
    number = 0  # the spreadsheet row being read (the header is row 1)
    cell_limit = min(limits.max_cell_chars, CSV_FIELD_LIMIT) if fmt == "csv" else limits.max_cell_chars
    try:
        for number, row in enumerate(rows, start=1):
            if number > limits.max_rows + 1:
                raise FileRefused(422, f"more than {limits.max_rows} rows")
            if len(row) > limits.max_columns:
                raise FileRefused(422, f"row {number} has more than {limits.max_columns} columns")
            for column, cell in enumerate(row, start=1):
                if len(cell) > cell_limit:
                    raise FileRefused(422, f"row {number}, column {column}: a cell longer than {cell_limit} characters")
            if headers is None:
                headers = row
            elif any(cell.strip() for cell in row):
                total += 1
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise FileRefused(422, f"row {number + 1}: a cell longer than {cell_limit} characters") from exc
        raise FileRefused(422, f"row {number + 1} cannot be read as CSV") from exc
    finally:
        rows.close()
    return Survey(fmt, headers or [], total)


class Surveyor:
    """Runs `survey` in a separate process: counting a million rows of XML is seconds of CPU
    that would otherwise hold the event loop's interpreter lock (a thread would share it)."""

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def survey(self, path: Path, filename: str, limits: Limits) -> Survey:
        if self._pool is None:
            # spawn, not fork: the service process has threads (a fork could copy a held lock).
            self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, survey, path, filename, limits)
        except BrokenProcessPool as exc:  # the reader died on this file (out of memory, killed)
            self._pool = None
            raise FileRefused(422, "the file could not be read") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def check_archive(path: Path, limits: Limits) -> None:
    """Refuse an XLSX whose ZIP declares more than `max_uncompressed_bytes` in all, or a
    compression ratio above `max_compression_ratio` (overall, or of a part over 1 MiB).
    Nothing is unpacked: the sizes are the ZIP directory's, which the reader then holds to."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UnsupportedFile(f"{path.name}: not a valid .xlsx file") from exc
    unpacked = sum(p.file_size for p in parts)
    packed = sum(p.compress_size for p in parts)
    if unpacked > limits.max_uncompressed_bytes:
        raise FileRefused(413, f"the workbook unpacks to {unpacked} bytes, more than the limit of {limits.max_uncompressed_bytes}")
    ratios = [(unpacked, packed), *((p.file_size, p.compress_size) for p in parts if p.file_size > _RATIO_FLOOR_BYTES)]
    for size, compressed in ratios:
        if size > _RATIO_FLOOR_BYTES and size > limits.max_compression_ratio * max(compressed, 1):
            raise FileRefused(
                422,
                f"the workbook is compressed more than {limits.max_compression_ratio:g} to 1 ({size} bytes in {compressed}): "
                "not a spreadsheet of real rows",
            )


def detect_format(path: Path, filename: str) -> SheetFormat:
    """By magic bytes first (an XLSX is a ZIP holding a workbook), then by the uploaded name."""
    with path.open("rb") as file:
        head = file.read(8)
    suffix = Path(filename).suffix.casefold()
    if head.startswith(_ZIP_MAGIC):
        if not _is_workbook(path):
            raise UnsupportedFile(f"{filename}: a ZIP file that is not an Excel workbook (.xlsx)")
        return "xlsx"
    if head.startswith(_OLE2_MAGIC):
        raise UnsupportedFile(f"{filename}: legacy Excel 97-2003 (.xls) files are not supported; save it as .xlsx or .csv")
    if suffix in _CSV_EXTENSIONS:
        return "csv"
    if suffix in _XLSX_EXTENSIONS:
        raise UnsupportedFile(f"{filename}: not a valid .xlsx file")
    raise UnsupportedFile(f"{filename}: only .csv and .xlsx files can be imported")


def _is_workbook(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive, archive.open("[Content_Types].xml") as part:
            content_types = part.read(1024 * 1024)
    except (zipfile.BadZipFile, KeyError):
        return False
    return any(kind in content_types for kind in _WORKBOOK_CONTENT_TYPES)


def read_headers(path: Path, fmt: SheetFormat) -> list[str]:
    """The first row of the file ([] for an empty file)."""
    rows = _csv_rows(path) if fmt == "csv" else _xlsx_rows(path)
    try:
        return next(rows, [])
    finally:
        rows.close()


def iter_rows(path: Path, fmt: SheetFormat, start: int = 0) -> Generator[list[str], None, None]:
    """Data rows as lists of strings, after the header row and the first `start` data rows
    (to resume an interrupted job). Rows may be shorter or longer than the header row."""
    rows = _csv_rows(path) if fmt == "csv" else _xlsx_rows(path)
    try:
        yield from islice(_without_trailing_empty(rows), 1 + start, None)
    finally:
        rows.close()


def _without_trailing_empty(rows: Iterator[list[str]]) -> Iterator[list[str]]:
    # Empty rows are held back (as a count, not a list) until a non-empty row shows they are inside the data.
    held = 0
    for row in rows:
        if not any(cell.strip() for cell in row):
            held += 1
            continue
        for _ in range(held):
            yield []
        held = 0
        yield row


# --- CSV -----------------------------------------------------------------------------------


def detect_encoding(path: Path) -> str:
    """`utf-16` with its BOM, UTF-8 (BOM or not) when the first 64 KiB are valid UTF-8,
    otherwise Windows-1255, the Hebrew code page of Excel's "CSV" on Hebrew Windows."""
    with path.open("rb") as file:
        head = file.read(_SNIFF_BYTES)
        at_end = not file.read(1)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    try:
        # Not final unless the whole file was read: a multi-byte character cut by the 64 KiB
        # boundary is incomplete, not invalid.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=at_end)
    except UnicodeDecodeError:
        return "cp1255"
    return "utf-8-sig"  # also reads UTF-8 without a BOM


def _sniff_delimiter(header_line: str) -> str:
    """The most frequent of `,` `;` TAB outside quotes in the header line (`,` when none)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(path: Path) -> Generator[list[str], None, None]:
    encoding = detect_encoding(path)
    # errors="replace": a stray byte after the sniffed 64 KiB spoils one cell, not the job.
    with path.open(encoding=encoding, errors="replace", newline="") as file:
        delimiter = _sniff_delimiter(file.readline())
    with path.open(encoding=encoding, errors="replace", newline="") as file:
        yield from csv.reader(file, delimiter=delimiter)


# --- XLSX ----------------------------------------------------------------------------------


def cell_text(value: object) -> str:
    """A cell value as import text: whole floats lose their `.0` (phones typed as numbers),
    midnight datetimes (Excel dates) become dates, other dates and times ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_rows(path: Path) -> Generator[list[str], None, None]:
    handle = path.open("rb")  # a file object: openpyxl would refuse a path without `.xlsx`
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except OSError:
        handle.close()
        raise
    except Exception as error:  # a broken workbook fails in many ways (zip, XML, missing parts)
        handle.close()
        raise UnsupportedFile(f"{path.name}: cannot be read as an Excel workbook") from error
    try:
        if not workbook.worksheets:
            return
        sheet = workbook.worksheets[0]
        # The declared dimension may claim a million rows by 16,384 columns; rows are padded
        # to it. Read the rows that are there instead.
        sheet.reset_dimensions()
        for values in sheet.iter_rows(values_only=True):
            row = [cell_text(value) for value in values]
            # A sheet formatted far to the right pads every row with empty cells: trim them.
            while row and not row[-1]:
                row.pop()
            yield row
    finally:
        workbook.close()
        handle.close()
