"""Exporting the cards a list shows (seed 000 "הרשאות ייצוא נתונים"; DESIGN 4.9) as CSV or XLSX.

- Only the cards the caller reaches (`crm_runtime.scope`), never deleted or merged-away ones,
  narrowed by the list's filters; only the columns the caller's role does not hide
  (`customer_svc.domain.export.columns`); formula-looking cells neutralised.
- Memory stays bounded whatever the row count: the cards come from a server-side cursor
  `CHUNK` rows at a time. CSV is written to the response chunk by chunk (UTF-8 with a BOM so
  Excel reads Hebrew). XLSX is written by openpyxl's write-only mode (rows go to disk as they
  come, strings inline) into a temporary file, then streamed from it and removed.
- Audit (`customers.export`): one line as the export starts (format and filters: no export
  leaves without a line, even one the client abandons), and one when the last row was written
  (`phase` `finished`, with `rows`). The start line is written before the first byte is sent:
  if it cannot be written the request is a 503 and nothing leaves.
"""

import asyncio
import csv
import dataclasses
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail
from crm_runtime.problems import invalid_fields
from customer_svc.adapters.export import ExportRepository, reach
from customer_svc.domain.export import Cell, cells, columns, header
from customer_svc.domain.filters import CardFilter
from customer_svc.service_layer.definitions import FieldDefinitions, check_values
from customer_svc.service_layer.queries import visible_match

CHUNK: Final = 1000  # rows fetched from the cursor, and written, at a time
BOM: Final = "\ufeff"
FILE_CHUNK: Final = 64 * 1024
ACTION: Final = "customers.export"
PERMISSION: Final = "actions.export"


def _csv_value(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _xlsx_value(value: Cell) -> Cell:
    """XLSX cannot hold most control characters (openpyxl refuses them): they are dropped."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


async def _none() -> AsyncIterator[Sequence[Mapping[str, Any]]]:
    return
    yield


@dataclasses.dataclass
class XlsxExport:
    """A finished XLSX file on disk; `chunks()` streams it and removes it afterwards."""

    path: Path
    rows: int

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(self.path.open, "rb")
            try:
                while block := await asyncio.to_thread(handle.read, FILE_CHUNK):
                    yield block
            finally:
                handle.close()
        finally:
            self.remove()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class Exporter:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], definitions: FieldDefinitions, audit: AuditTrail, chunk: int = CHUNK
    ) -> None:
        self._sessions = sessions
        self._definitions = definitions
        self._audit = audit
        self._chunk = chunk

    async def _prepared(self, session: AsyncSession, workspace: str, where: CardFilter) -> tuple[CardFilter, list[str]]:
        """The filter with its custom field values checked (a 422 naming `field.<key>`), and the
        workspace's custom field keys in their order."""
        definitions = await self._definitions.of(session, workspace)
        if where.fields:
            any_type = [d.model_copy(update={"card_types": None}) for d in definitions]
            clean, errors = check_values(any_type, where.fields, "lead")
            if errors:
                raise invalid_fields([(e.field.replace("fields.", "field."), e.message) for e in errors])
            where = dataclasses.replace(where, fields={**where.fields, **clean})
        return where, [d.key for d in definitions]

    async def _rows(
        self, caller: Caller, where: CardFilter, audit: dict[str, Any], started: Callable[[list[Cell]], None], nothing: bool
    ) -> AsyncIterator[Sequence[list[Cell]]]:
        """The export's header (given to `started`), then the rows' cells chunk by chunk (none
        when `nothing`: a search with nothing searchable); the start line is audited before the
        first chunk, the finished line after the last."""
        rows = 0
        async with self._sessions() as session, session.begin():
            where, custom_keys = await self._prepared(session, caller.workspace, where)
            chosen = columns(caller.permissions, custom_keys)
            await self._audit.record(caller, ACTION, target_type="customers", permission=PERMISSION, detail={**audit, "phase": "started"})
            started(header(chosen))
            parts = ExportRepository(session).stream(caller.workspace, where, reach(caller), self._chunk)
            matches = visible_match(caller, where.terms)  # found only through a hidden field: left out, as in the list
            async for part in _none() if nothing else parts:
                kept = part if matches is None else [row for row in part if matches(row)]
                rows += len(kept)
                yield [cells(chosen, row) for row in kept]
        finished = {**audit, "phase": "finished", "rows": rows}
        await self._audit.record(caller, ACTION, target_type="customers", permission=PERMISSION, detail=finished)

    async def csv(self, caller: Caller, where: CardFilter, audit: dict[str, Any], *, nothing: bool = False) -> AsyncIterator[bytes]:
        """The CSV file in pieces: the first piece (BOM and header) comes once the filter was
        checked and the export audited, so a caller awaiting it can still answer with a problem."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def flushed() -> bytes:
            data = buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            return data

        head: list[list[Cell]] = []
        async for part in self._rows(caller, where, audit, head.append, nothing):
            if head:
                buffer.write(BOM)
                writer.writerow([_csv_value(v) for v in head.pop()])
            writer.writerows([[_csv_value(v) for v in row] for row in part])
            yield flushed()
        if head:  # no row at all: the header alone
            buffer.write(BOM)
            writer.writerow([_csv_value(v) for v in head.pop()])
        if buffer.tell():
            yield flushed()

    async def xlsx(self, caller: Caller, where: CardFilter, audit: dict[str, Any], *, nothing: bool = False) -> XlsxExport:
        """The XLSX file, written to a temporary file (write-only: rows go to disk as they come)."""
        handle, name = tempfile.mkstemp(prefix="customers-export-", suffix=".xlsx")
        os.close(handle)
        done = XlsxExport(Path(name), 0)
        try:
            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("customers")

            def append(rows: Sequence[list[Cell]]) -> None:
                for row in rows:
                    sheet.append([_xlsx_value(v) for v in row])

            async for part in self._rows(caller, where, audit, lambda head: append([head]), nothing):
                await asyncio.to_thread(append, part)
                done.rows += len(part)
            await asyncio.to_thread(workbook.save, name)
        except BaseException:
            done.remove()
            raise
        return done
