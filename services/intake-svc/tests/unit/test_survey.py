"""`survey`: an upload checked against the import caps before a job is made of it (issue 15,
item 4): ZIP sizes and ratios before opening, rows, columns and cells while counting."""

import asyncio
import pickle
import sys
import time
from pathlib import Path

import pytest

from intake_svc.adapters.spreadsheets import FileRefused, Limits, Surveyor, UnsupportedFile, survey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import workbooks  # noqa: E402

pytestmark = pytest.mark.unit


def _csv(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "f.csv"
    path.write_text("".join(",".join(r) + "\r\n" for r in rows), encoding="utf-8")
    return path


def test_headers_and_non_blank_rows_are_counted(tmp_path: Path) -> None:
    found = survey(_csv(tmp_path, [["phone", "name"], ["0501234567", "a"], ["", ""], ["0501234568", "b"]]), "f.csv", Limits())
    assert (found.format, found.headers, found.rows_total) == ("csv", ["phone", "name"], 2)


@pytest.mark.parametrize(
    ("rows", "limits", "message"),
    [
        ([["h"], ["1"], ["2"], ["3"]], Limits(max_rows=2), "more than 2 rows"),
        ([["a", "b", "c"], ["1"]], Limits(max_columns=2), "row 1 has more than 2 columns"),
        ([["a", "b"], ["1", "x" * 11]], Limits(max_cell_chars=10), "row 2, column 2: a cell longer than 10 characters"),
        ([["a"], ["x" * 131_073]], Limits(max_cell_chars=10**6), "row 2: a cell longer than 131072 characters"),
    ],
)
def test_csv_caps(tmp_path: Path, rows: list[list[str]], limits: Limits, message: str) -> None:
    with pytest.raises(FileRefused) as refused:
        survey(_csv(tmp_path, rows), "f.csv", limits)
    assert refused.value.status == 422 and refused.value.message == message


def test_a_workbook_packed_too_tightly_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(workbooks.blank_rows_workbook(["phone"], 1_000_000))
    started = time.perf_counter()
    with pytest.raises(FileRefused) as refused:
        survey(path, "hostile.xlsx", Limits())
    assert refused.value.status == 422 and "compressed more than 100 to 1" in refused.value.message
    assert time.perf_counter() - started < 1, "nothing was unpacked"
    with pytest.raises(FileRefused) as too_big:
        survey(path, "hostile.xlsx", Limits(max_uncompressed_bytes=10_000_000))
    assert too_big.value.status == 413


def test_a_declared_dimension_does_not_pad_rows(tmp_path: Path) -> None:
    # The sheet claims 16,384 columns: read as declared, each of its 3,000 rows would be
    # padded to that width (49 million cells).
    path = tmp_path / "wide.xlsx"
    rows = [workbooks.row_xml(1, ["phone", "name"]), *(workbooks.row_xml(n, ["0501234567", "a"]) for n in range(2, 3002))]
    path.write_bytes(workbooks.workbook(rows, dimension="A1:XFD1048576"))
    started = time.perf_counter()
    found = survey(path, "wide.xlsx", Limits())
    assert (found.headers, found.rows_total) == (["phone", "name"], 3000)
    assert time.perf_counter() - started < 2


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(UnsupportedFile):
        survey(path, "x.xlsx", Limits())


def test_a_refusal_crosses_the_process_boundary_intact() -> None:
    again = pickle.loads(pickle.dumps(FileRefused(413, "too big")))
    assert (again.status, again.message, str(again)) == (413, "too big", "too big")


def test_the_surveyor_runs_in_another_process(tmp_path: Path) -> None:
    async def run() -> None:
        surveyor = Surveyor(workers=1)
        try:
            found = await surveyor.survey(_csv(tmp_path, [["phone"], ["0501234567"]]), "f.csv", Limits())
            assert found.rows_total == 1
            with pytest.raises(FileRefused):
                await surveyor.survey(_csv(tmp_path, [["a", "b"]]), "f.csv", Limits(max_columns=1))
        finally:
            await surveyor.close()

    asyncio.run(run())
