"""Reading import files: format detection, CSV encodings and delimiters, XLSX values, resuming, streaming.

Unit tier: the files are small and written under pytest's `tmp_path`; no service or server.
"""

import codecs
import datetime as dt
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import openpyxl
import pytest

from intake_svc.adapters.spreadsheets import (
    SheetFormat,
    UnsupportedFile,
    cell_text,
    detect_encoding,
    detect_format,
    iter_rows,
    read_headers,
)

pytestmark = pytest.mark.unit

HEADERS = ["שם פרטי", "שם משפחה", "טלפון", 'דוא"ל']
ROWS = [
    ["דנה", "כהן", "0501234567", "dana@example.co.il"],
    ["יוסי", 'בן-דוד "הגדול"', "03-7654321", ""],
    ["Ann", "Lee", "", "ann@example.com"],
]


def write_csv(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_text(delimiter: str, rows: list[list[str]]) -> str:
    def quote(cell: str) -> str:
        if any(ch in cell for ch in f'"{delimiter}\n'):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    return "".join(delimiter.join(quote(cell) for cell in row) + "\r\n" for row in rows)


def write_xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    workbook.create_sheet("ignored").append(["not", "read"])
    workbook.save(path)
    return path


# --- detect_format -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "filename", "fmt"),
    [
        (b"a,b\r\n1,2\r\n", "leads.csv", "csv"),
        (b"a;b\r\n", "LEADS.CSV", "csv"),
        (b"a\tb\r\n", "export.txt", "csv"),
        ("שם,טלפון\r\n".encode("cp1255"), "לקוחות.csv", "csv"),
        (b"", "empty.csv", "csv"),
    ],
)
def test_detect_csv(tmp_path: Path, content: bytes, filename: str, fmt: SheetFormat) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    assert detect_format(path, filename) == fmt


@pytest.mark.parametrize("filename", ["leads.xlsx", "leads.csv", "upload", "לקוחות.XLSX"])
def test_detect_xlsx_by_magic_bytes_whatever_the_name(tmp_path: Path, filename: str) -> None:
    path = write_xlsx(tmp_path / "upload", [["a"]])
    assert detect_format(path, filename) == "xlsx"


def _zip(path: Path, name: str, data: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, data)


@pytest.mark.parametrize(
    ("make", "filename"),
    [
        (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504), "old.xls"),
        (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504), "renamed.csv"),
        (lambda p: p.write_bytes(b"a,b\r\n"), "leads.xls"),
        (lambda p: p.write_bytes(b"a,b\r\n"), "leads.xlsx"),
        (lambda p: p.write_bytes(b"%PDF-1.7"), "leads.pdf"),
        (lambda p: p.write_bytes(b"a,b\r\n"), "leads"),
        (lambda p: _zip(p, "mimetype", b"application/vnd.oasis.opendocument.spreadsheet"), "leads.ods"),
        (lambda p: _zip(p, "[Content_Types].xml", b"wordprocessingml.document.main+xml"), "leads.xlsx"),
        (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "leads.xlsx"),
    ],
)
def test_unsupported_files(tmp_path: Path, make: Callable[[Path], object], filename: str) -> None:
    path = tmp_path / "upload"
    make(path)
    with pytest.raises(UnsupportedFile):
        detect_format(path, filename)


# --- CSV ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [
        ("utf-8-sig", ","),
        ("utf-8", ","),
        ("cp1255", ","),
        ("utf-8-sig", ";"),
        ("cp1255", ";"),
        ("utf-8", "\t"),
        ("utf-16", "\t"),
    ],
)
def test_csv_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str) -> None:
    path = write_csv(tmp_path / "leads.csv", csv_text(delimiter, [HEADERS, *ROWS]), encoding)
    assert detect_format(path, "leads.csv") == "csv"
    assert read_headers(path, "csv") == HEADERS
    assert list(iter_rows(path, "csv")) == ROWS


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (codecs.BOM_UTF8 + "שם".encode(), "utf-8-sig"),
        ("שם".encode(), "utf-8-sig"),
        (b"name,phone", "utf-8-sig"),
        ("שם".encode("cp1255"), "cp1255"),
        ("שם".encode("utf-16"), "utf-16"),
        # A two-byte letter cut in half by the 64 KiB boundary is still UTF-8.
        (b"a" * (64 * 1024 - 1) + "ש".encode() + b"\r\n", "utf-8-sig"),
        # ... but a lone Windows-1255 byte at the boundary is not.
        (b"a" * (64 * 1024 - 1) + "ש".encode("cp1255") + b"\r\n", "cp1255"),
        (b"a" * (64 * 1024 - 1) + "ש".encode()[:1], "cp1255"),
    ],
)
def test_detect_encoding(tmp_path: Path, content: bytes, encoding: str) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(content)
    assert detect_encoding(path) == encoding


def test_utf8_hebrew_across_the_sniffed_chunk(tmp_path: Path) -> None:
    filler = [["x" * 100, "1"] for _ in range(700)]  # ~70 KiB of ASCII before the Hebrew
    path = write_csv(tmp_path / "leads.csv", csv_text(",", [["a", "b"], *filler, ["דנה", "כהן"]]), "utf-8")
    assert list(iter_rows(path, "csv"))[-1] == ["דנה", "כהן"]


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        # Quoted cells with delimiters, quotes and new lines survive.
        ('a;b\r\n"x;y";"say ""hi"""\r\n"two\nlines";z\r\n', [["x;y", 'say "hi"'], ["two\nlines", "z"]]),
        # The header line decides the delimiter, not commas inside quoted headers.
        ('"Last, first";Phone\r\n"Cohen, Dana";050\r\n', [["Cohen, Dana", "050"]]),
        # A single column has no delimiter at all.
        ("Phone\r\n050\r\n052\r\n", [["050"], ["052"]]),
        # Ragged rows come back as they are.
        ("a,b,c\r\n1\r\n1,2,3,4\r\n", [["1"], ["1", "2", "3", "4"]]),
        # Empty rows inside the data are kept (row numbers stay true), trailing ones are not.
        ("a,b\r\n1,2\r\n\r\n,\r\n3,4\r\n\r\n,,\r\n", [["1", "2"], [], [], ["3", "4"]]),
        ("a,b\n1,2\n", [["1", "2"]]),
        ("a,b\r\n", []),
        ("", []),
    ],
)
def test_csv_rows(tmp_path: Path, text: str, rows: list[list[str]]) -> None:
    path = write_csv(tmp_path / "leads.csv", text, "utf-8")
    assert list(iter_rows(path, "csv")) == rows


def test_csv_empty_file_has_no_headers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", "", "utf-8")
    assert read_headers(path, "csv") == []


# --- XLSX --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("דנה", "דנה"),
        (501234567, "501234567"),
        (501234567.0, "501234567"),
        (1.5, "1.5"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (dt.datetime(2024, 3, 1), "2024-03-01"),
        (dt.datetime(2024, 3, 1, 9, 30), "2024-03-01T09:30:00"),
        (dt.date(1990, 12, 31), "1990-12-31"),
        (dt.time(8, 15), "08:15:00"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_xlsx_values(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "leads.xlsx",
        [
            ["שם פרטי", "שם משפחה", "טלפון", "תאריך לידה", "פעיל", "סכום", None],
            ["דנה", "כהן", 501234567, dt.date(1990, 12, 31), True, 1234.5],
            ["יוסי", None, 37654321.0, dt.datetime(2024, 3, 1, 9, 30), False, 10.0],
        ],
    )
    assert detect_format(path, "leads.xlsx") == "xlsx"
    assert read_headers(path, "xlsx") == ["שם פרטי", "שם משפחה", "טלפון", "תאריך לידה", "פעיל", "סכום"]
    assert list(iter_rows(path, "xlsx")) == [
        ["דנה", "כהן", "501234567", "1990-12-31", "true", "1234.5"],
        ["יוסי", "", "37654321", "2024-03-01T09:30:00", "false", "10"],
    ]


def test_xlsx_empty_rows_and_far_formatting(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Name", "Phone"])
    sheet.append(["Dana", "050"])
    sheet.append([])
    sheet.append(["Ann", "052"])
    sheet["Z40"].number_format = "0.00"  # a formatted, empty cell far away
    sheet["A41"] = ""
    path = tmp_path / "leads.xlsx"
    workbook.save(path)
    assert read_headers(path, "xlsx") == ["Name", "Phone"]
    assert list(iter_rows(path, "xlsx")) == [["Dana", "050"], [], ["Ann", "052"]]


def test_xlsx_reads_only_the_first_sheet_even_when_another_is_active(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert first is not None
    first.append(["Name"])
    first.append(["Dana"])
    second = workbook.create_sheet("other")
    second.append(["Other"])
    second.append(["nope"])
    workbook.active = 1
    path = tmp_path / "leads.xlsx"
    workbook.save(path)
    assert read_headers(path, "xlsx") == ["Name"]
    assert list(iter_rows(path, "xlsx")) == [["Dana"]]


def test_unreadable_xlsx_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    _zip(path, "[Content_Types].xml", b"spreadsheetml.sheet.main+xml")
    with pytest.raises(UnsupportedFile):
        list(iter_rows(path, "xlsx"))


# --- resuming ----------------------------------------------------------------------------


def _numbered(n: int) -> list[list[str]]:
    return [[f"שם {i}", f"05{i:08d}"] for i in range(n)]


@pytest.fixture(params=["csv-utf8", "csv-cp1255", "xlsx"])
def ten_rows(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, SheetFormat]:
    rows = [["שם", "טלפון"], *_numbered(10)]
    if request.param == "xlsx":
        return write_xlsx(tmp_path / "leads.xlsx", rows), "xlsx"
    encoding = "utf-8" if request.param == "csv-utf8" else "cp1255"
    return write_csv(tmp_path / "leads.csv", csv_text(",", rows), encoding), "csv"


@pytest.mark.parametrize(("start", "first"), [(0, 0), (1, 1), (7, 7), (9, 9)])
def test_resume_from_a_row(ten_rows: tuple[Path, SheetFormat], start: int, first: int) -> None:
    path, fmt = ten_rows
    assert list(iter_rows(path, fmt, start=start)) == _numbered(10)[first:]


@pytest.mark.parametrize("start", [10, 11, 1000])
def test_resume_past_the_end(ten_rows: tuple[Path, SheetFormat], start: int) -> None:
    path, fmt = ten_rows
    assert list(iter_rows(path, fmt, start=start)) == []


def test_interrupted_then_resumed_reads_every_row_once(ten_rows: tuple[Path, SheetFormat]) -> None:
    path, fmt = ten_rows
    rows = iter_rows(path, fmt)
    done = [next(rows) for _ in range(4)]
    rows.close()  # the job stops here
    assert done + list(iter_rows(path, fmt, start=len(done))) == _numbered(10)


# --- streaming ---------------------------------------------------------------------------


def _big_csv_lines(n: int) -> Iterator[str]:
    yield 'שם פרטי;שם משפחה;טלפון;דוא"ל;הערות\r\n'
    for i in range(n):
        yield f"דנה {i};כהן;05{i:08d};dana{i}@example.co.il;לקוחה ותיקה מאוד שמתעניינת במוצר\r\n"


def test_a_large_csv_is_streamed(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="cp1255", newline="") as file:
        file.writelines(_big_csv_lines(n))
    assert path.stat().st_size > 10 * 1024 * 1024

    tracemalloc.start()
    try:
        count = 0
        last: list[str] = []
        for row in iter_rows(path, "csv", start=5):
            count += 1
            last = row
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == n - 5
    assert last == [f"דנה {n - 1}", "כהן", f"05{n - 1:08d}", f"dana{n - 1}@example.co.il", "לקוחה ותיקה מאוד שמתעניינת במוצר"]
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MiB: the file was not streamed"
