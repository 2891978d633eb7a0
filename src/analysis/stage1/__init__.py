"""Stage 1, the transaction stage (load, clean, summarise), on any engine.

* ``rules``: the vocabulary every engine shares (rule names, ledger, error and warning
  texts, the limits of exact money);
* ``engine``: the one small protocol (:class:`~analysis.stage1.engine.TransactionEngine`:
  ``transaction_stage`` and ``close``) and :func:`~analysis.stage1.engine.open_engine`,
  the only place that looks at the ``engine`` parameter;
* ``load`` (read a file as written), ``parse`` (type it), ``clean`` (the rules and their
  ledger), ``summary`` (one row per customer), ``aggregates`` (what the notebooks need
  instead of the transactions), ``privacy`` (hashed ids): the pandas implementation, run
  by ``pandas_engine``, the default on one machine;
* ``ibis_engine``, ``ibis_io``, ``ibis_text``, ``ibis_typing``, ``ibis_rules``,
  ``ibis_aggregates``, ``sources``: the same rules and aggregates as Ibis expressions, run
  by DuckDB or Spark.

The stage ends in the ledger, the customers table and the aggregates: the clean
transactions are written by the engine (``clean_transactions``) and never handed on.
"""

__all__ = []  # the modules are imported by name: stage1.engine, stage1.rules, ...
