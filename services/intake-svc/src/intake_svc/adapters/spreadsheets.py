"""Reading uploaded import files (CSV, XLSX) row by row, without holding a whole file in memory.

The first row of the file is the header row; data rows are numbered from 0 after it, so data row
`n` is spreadsheet row `n + 2`. Empty rows inside the data are yielded (as empty lists)
to keep that numbering; empty rows at the end are not.
"""

import codecs
import csv
import datetime as dt
import zipfile
from collections.abc import Generator, Iterator
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
        for values in sheet.iter_rows(values_only=True):
            row = [cell_text(value) for value in values]
            # A sheet formatted far to the right pads every row with empty cells: trim them.
            while row and not row[-1]:
                row.pop()
            yield row
    finally:
        workbook.close()
        handle.close()
