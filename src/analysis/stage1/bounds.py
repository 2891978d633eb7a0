"""Readers bounded: what a workbook or a Parquet file declares is checked before it is read,
so that a file of a few kilobytes cannot make the reader allocate gigabytes (a cell at
XFD1048576, a deflate bomb, pages that inflate, nested columns)."""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError

__all__ = ["MAX_WORKBOOK_BYTES", "MAX_SHEET_CELLS", "memory_bytes", "check_workbook",
           "check_parquet", "missing_columns_text"]


def missing_columns_text(missing: list[str], where: str) -> str:
    if len(missing) == 1:
        return f"mapped column {missing[0]!r} is not in the {where}"
    return f"mapped columns {', '.join(repr(m) for m in missing)} are not in the {where}"


#: a workbook's parts may expand to at most this much XML (an XLSX of a million rows of
#: transactions is a few hundred MB), and a sheet's cells span at most this many cells:
#: the reader allocates the whole rectangle from the first to the last cell
MAX_WORKBOOK_BYTES = 2 << 30
MAX_SHEET_CELLS = 60_000_000
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"([A-Z]{1,3})([0-9]{1,7})\"")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]{1,3})([0-9]{1,7})"
                        rb"(?::([A-Z]{1,3})([0-9]{1,7}))?\"")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def check_workbook(p: Path) -> None:
    """Refuse, before the reader allocates anything, a workbook that would take more memory
    than any table of transactions needs: parts that inflate beyond
    :data:`MAX_WORKBOOK_BYTES` (a deflate bomb), or a sheet whose cells (or its declared
    dimension) span more than :data:`MAX_SHEET_CELLS` (one cell at XFD1048576 makes a
    17-billion-cell rectangle). XLSX, XLSM and ODS are zip files; others pass."""
    if p.suffix.lower() not in (".xlsx", ".xlsm", ".ods"):
        return
    try:
        archive = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError):
        return  # the reader says what is wrong with it
    with archive:
        parts = archive.infolist()
        inflated = sum(max(i.file_size, 0) for i in parts)
        if inflated > MAX_WORKBOOK_BYTES:
            raise InputError(f"the workbook inflates to {inflated / 2**30:,.1f} GiB of XML, "
                             f"more than the {MAX_WORKBOOK_BYTES / 2**30:.0f} GiB a workbook "
                             f"of transactions needs", file=str(p),
                             hint="Export the sheet as CSV instead")
        for part in parts:
            if not (part.filename.startswith("xl/worksheets/") and
                    part.filename.endswith(".xml")):
                continue
            span = _sheet_span(archive, part)
            if span > MAX_SHEET_CELLS:
                raise InputError(f"the sheet {part.filename.rsplit('/', 1)[-1]} spans "
                                 f"{span:,} cells from its first to its last cell, more than "
                                 f"{MAX_SHEET_CELLS:,}; is a stray cell far below or to the "
                                 f"right of the data?", file=str(p),
                                 hint="Delete the empty rows and columns after the data, or "
                                 "export the sheet as CSV")


def _sheet_span(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> int:
    """How many cells the rectangle from a sheet's first to its last cell holds: from its
    declared dimension and from every cell reference, read as a stream (at most
    ``part.file_size`` bytes, however the part was compressed)."""
    rows, cols = [1 << 30, 0], [1 << 30, 0]

    def see(col: bytes, row: bytes) -> None:
        c, r = _column_number(col), int(row)
        rows[0], rows[1] = min(rows[0], r), max(rows[1], r)
        cols[0], cols[1] = min(cols[0], c), max(cols[1], c)

    tail = b""
    with archive.open(part) as fh:
        first = True
        for block in iter(lambda: fh.read(8 << 20), b""):
            chunk = tail + block
            if first:
                m = _DIMENSION.search(chunk[:4096])
                if m:
                    see(m.group(1), m.group(2))
                    if m.group(3):
                        see(m.group(3), m.group(4))
                first = False
            for m in _CELL_REF.finditer(chunk):
                see(m.group(1), m.group(2))
            tail = chunk[-256:]
    if rows[1] == 0:
        return 0
    return (rows[1] - rows[0] + 1) * (cols[1] - cols[0] + 1)



def memory_bytes() -> int:
    """The machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_parquet(p: Path, usecols: list[str]) -> None:
    """Refuse, before reading, what a Parquet file cannot give as a table of transactions:
    missing columns, nested ones (lists, structs, maps: an id ``[1 2]`` is no id), and
    columns whose pages would expand beyond half the machine's memory (a file of a few MB
    can declare gigabytes)."""
    try:
        meta = pq.read_metadata(p)
        schema = meta.schema.to_arrow_schema()
    except Exception as exc:
        raise InputError(f"the file is not a readable Parquet file: {str(exc)[:300]}",
                         file=str(p)) from None
    names = schema.names
    missing = [c for c in usecols if c not in names]
    if missing:
        raise InputError(missing_columns_text(missing, "Parquet file"), file=str(p),
                         column=missing[0], hint=f"Its columns are {names[:12]}")
    for c in usecols:
        kind = schema.field(c).type
        if pa.types.is_nested(kind) or pa.types.is_dictionary(kind) and \
                pa.types.is_nested(kind.value_type):
            raise InputError(f"column {c!r} holds nested values ({kind}), not one value per "
                             f"cell", file=str(p), column=c,
                             hint="Flatten it (one row per value) before the analysis")
    # what reading takes at least: each value's 8 bytes (a dictionary or run-length page
    # can stand for billions of them) plus the pages as they inflate
    size = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in range(group.num_columns):
            column = group.column(i)
            if column.path_in_schema.split(".")[0] in usecols:
                size += max(column.total_uncompressed_size, 0) + 8 * max(column.num_values, 0)
    limit = memory_bytes() // 2
    if size > limit:
        raise InputError(f"the mapped columns take at least {size / 2**30:,.1f} GiB to read, "
                         f"more than "
                         f"half this machine's memory ({limit / 2**30:,.1f} GiB)",
                         file=str(p), hint="Use engine: duckdb, which reads it out of core")
