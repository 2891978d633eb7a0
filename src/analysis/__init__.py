"""Customer analytics: transaction log → value tiers, segments, lifecycle and CLV.

One module per stage (``load``, ``clean``, ``summary``, ``tiers``, ``segments``,
``clv``, ``report``), pure functions on DataFrames; ``runner`` executes the
notebooks with papermill. See the README and ``../shared/DESIGN.md``.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]
