"""Label Studio exports and long files -> one tidy long frame, with every dropped row reported.

``load`` (:mod:`.loader`) is the one entry point; :mod:`.formats` reads the export formats into raw
annotation records (no rubric), :mod:`.answers` checks them against the rubric and applies the
rule, :mod:`.accumulator` collects rows column-wise, :mod:`.frame` fixes the columns' dtypes,
:mod:`.long` reads long CSV/Parquet files.
"""

from oma_analysis.ingest.loader import Loaded, load, question_filter, report_dropped

__all__ = ["Loaded", "load", "question_filter", "report_dropped"]
