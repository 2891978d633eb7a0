"""The one-query lower bound of the transaction stage (``benchmarks/run.py``, section 5).

One DuckDB query on the benchmark's CSV log (``params/synthetic.yaml``'s columns): read it,
drop rows without a customer id, cancellations (an invoice starting with ``C``), returns
and non-positive prices, merge each customer's purchases by day, and give one row per
customer with the first and last day, the repeat purchase days and the revenue, fetched as
Arrow. It does a part of what the stage does (no ledger per rule, no typing checks, no
duplicates, no aggregates, no clean rows written): what the machine can do at the least,
against which each engine's stage is a ratio.
"""
from __future__ import annotations

import time

__all__ = ["LIMIT_SQL", "limit_probe"]

LIMIT_SQL = """
with t as (
  select CustomerID as c, cast(InvoiceDate as date) as d,
         round(Quantity * UnitPrice * 100) as cents
  from read_csv('{path}', header = true, timestampformat = '%Y-%m-%d %H:%M:%S')
  where CustomerID is not null and not starts_with(cast(InvoiceNo as varchar), 'C')
    and Quantity > 0 and UnitPrice > 0),
days as (select c, d, sum(cents) as cents from t group by c, d)
select c as customer_id, min(d) as first_day, max(d) as last_day,
       count(*) - 1 as repeat_days, sum(cents) / 100 as revenue
from days group by c
"""


def limit_probe(path: str) -> dict:
    """The query on ``path`` in this process: seconds (import and connection excluded),
    customers and revenue."""
    import duckdb
    con = duckdb.connect()
    t0 = time.perf_counter()
    table = con.sql(LIMIT_SQL.format(path=path.replace("'", "''"))).to_arrow_table()
    seconds = time.perf_counter() - t0
    revenue = sum(v for v in table.column("revenue").to_pylist() if v is not None)
    return {"seconds": seconds, "customers": table.num_rows, "revenue": round(revenue, 2)}
