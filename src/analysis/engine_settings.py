"""What a parameter file may hand to DuckDB and to Spark: an allow-list of settings, each
with its type and range.

Parameter files are shared and committed; they are data, never code. Spark's settings
reach a JVM command line (``spark.driver.extraJavaOptions: -XX:OnOutOfMemoryError=…``
runs a shell command), its class path and its plug-ins; DuckDB's can load extensions or
open files. So only the settings below pass, each checked against its kind:

- ``size``: an amount of memory, a whole number with an optional unit (``512m``, ``8g``,
  ``8GB``, ``1.5GiB`` for DuckDB);
- ``count``: a whole number within the range given;
- ``bool``: true or false;
- ``share``: a number strictly between 0 and 1;
- ``dir``: a local directory path (letters, digits and ``/ . _ - ~`` only: no spaces,
  quotes, ``$``, ``;`` or anything a shell or a JVM option could read).

Anything else is refused with the setting's name, before any engine starts.
"""
from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["SPARK_ALLOWED", "DUCKDB_ALLOWED", "check_settings", "check_spark_master",
           "allowed_markdown"]

_SIZE = {"spark": re.compile(r"^[1-9][0-9]{0,6}[kmgt]?b?$", re.I),
         "duckdb": re.compile(r"^[0-9]{1,7}(\.[0-9]{1,3})?\s?(b|kb|mb|gb|tb|kib|mib|gib|tib)$",
                              re.I)}
_DIR = re.compile(r"^[A-Za-z0-9/._~-]{1,400}$")

#: setting: (kind, low, high) — the bounds for counts only
SPARK_ALLOWED: dict[str, tuple[str, int | None, int | None]] = {
    "spark.driver.memory": ("size", None, None),
    "spark.driver.maxResultSize": ("size", None, None),
    "spark.driver.cores": ("count", 1, 1024),
    "spark.executor.memory": ("size", None, None),
    "spark.executor.memoryOverhead": ("size", None, None),
    "spark.executor.cores": ("count", 1, 1024),
    "spark.executor.instances": ("count", 1, 100_000),
    "spark.default.parallelism": ("count", 1, 1_000_000),
    "spark.sql.shuffle.partitions": ("count", 1, 1_000_000),
    "spark.sql.files.maxPartitionBytes": ("size", None, None),
    "spark.sql.adaptive.enabled": ("bool", None, None),
    "spark.sql.adaptive.coalescePartitions.enabled": ("bool", None, None),
    "spark.sql.execution.arrow.pyspark.enabled": ("bool", None, None),
    "spark.memory.fraction": ("share", None, None),
    "spark.memory.storageFraction": ("share", None, None),
    "spark.local.dir": ("dir", None, None),
    "spark.ui.enabled": ("bool", None, None),
    "spark.ui.showConsoleProgress": ("bool", None, None),
}

DUCKDB_ALLOWED: dict[str, tuple[str, int | None, int | None]] = {
    "memory_limit": ("size", None, None),
    "max_memory": ("size", None, None),
    "max_temp_directory_size": ("size", None, None),
    "threads": ("count", 1, 1024),
    "temp_directory": ("dir", None, None),
    "preserve_insertion_order": ("bool", None, None),
}

_ALLOWED = {"spark_config": ("spark", SPARK_ALLOWED), "duckdb_config": ("duckdb", DUCKDB_ALLOWED)}

_KIND_TEXT = {"size": "an amount of memory such as 8g", "count": "a whole number",
              "bool": "true or false", "share": "a number between 0 and 1",
              "dir": "a directory path of letters, digits and / . _ - ~"}


def _value_error(kind: str, value: Any, lo: int | None, hi: int | None,
                 engine: str) -> str | None:
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, str) and
                                       value.lower() in ("true", "false")):
            return None
        return "must be true or false"
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or int(value) != value:
            return "must be a whole number"
        return None if lo <= value <= hi else f"must be between {lo} and {hi}"
    if kind == "share":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not (0 < value < 1):
            return "must be a number strictly between 0 and 1"
        return None
    if kind == "size":
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) \
            else ""
        return None if _SIZE[engine].match(text.strip()) else \
            "must be an amount of memory such as " + ("8g or 512m" if engine == "spark"
                                                     else "8GB or 512MB")
    if kind == "dir":
        if isinstance(value, str) and _DIR.match(value) and ".." not in value.split("/"):
            return None
        return ("must be a local directory path of letters, digits and / . _ - ~ only "
                "(no spaces, quotes or shell characters)")
    raise AssertionError(kind)  # pragma: no cover


def check_settings(name: str, settings: dict[str, Any]) -> str | None:
    """An error text for the first setting of ``spark_config`` / ``duckdb_config`` that is
    not on the allow-list or whose value is not of its kind; None when all pass. The value
    is not echoed (it may be long, or hold what a shell would run)."""
    engine, allowed = _ALLOWED[name]
    for key, value in settings.items():
        if key not in allowed:
            return (f"{name} may not set {str(key)[:80]!r}: only these settings are accepted "
                    f"(a parameter file is data; settings that reach a JVM command line, a "
                    f"class path, extensions or files are refused): {', '.join(allowed)}")
        kind, lo, hi = allowed[key]
        problem = _value_error(kind, value, lo, hi, engine)
        if problem:
            return f"{name} sets {key}, which {problem}"
    return None


_MASTER = re.compile(r"^(local(\[([1-9][0-9]{0,3}|\*)(,[0-9]{1,3})?\])?|yarn|"
                     r"(spark|mesos)://[A-Za-z0-9.-]+(:[0-9]{1,5})?"
                     r"(,[A-Za-z0-9.-]+(:[0-9]{1,5})?)*|"
                     r"k8s://https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$")


def check_spark_master(value: str) -> str | None:
    """An error text when ``spark_master`` is not a Spark master URL."""
    if _MASTER.match(value):
        return None
    return ("must be a Spark master URL: local, local[N], local[*], yarn, spark://host:port "
            "or k8s://https://host:port")


def allowed_markdown() -> str:
    """The README's list of the accepted engine settings."""
    out = []
    for name, (_, allowed) in _ALLOWED.items():
        items = []
        for key, (kind, lo, hi) in allowed.items():
            bounds = f" {lo}–{hi}" if kind == "count" else ""
            items.append(f"`{key}` ({_KIND_TEXT[kind]}{bounds})")
        out.append(f"- `{name}`: " + "; ".join(items) + ".")
    return "\n".join(out)
