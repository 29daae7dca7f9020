"""Lay out a loaded run for the templates: headline, comparisons, rounds, warnings, method.

One module per job: ``_tables`` (headline, pair ratios, rounds, cost split), ``_warning_groups``
(what the reader must see, grouped) and ``_method`` (machine, settings, model, the
command that repeats the run).
"""

from loadtests.report.view._method import (
    GUNICORN_NOTE,
    LIMITS,
    calibration_text,
    join_list,
    method,
    reproduce,
    train_command,
)
from loadtests.report.view._tables import (
    COMPARED,
    CPU_PARTS,
    RATIO_FIGURES,
    THROUGHPUT_HEADINGS,
    Column,
    decomposition_rows,
    describe,
    headline,
    headline_cell,
    headline_columns,
    ratio_rows,
    rounds_table,
    rung_rows,
)
from loadtests.report.view._warning_groups import SATURATED_PCT, WARNING_NOTES, warnings

__all__ = [
    "COMPARED",
    "CPU_PARTS",
    "GUNICORN_NOTE",
    "LIMITS",
    "RATIO_FIGURES",
    "SATURATED_PCT",
    "THROUGHPUT_HEADINGS",
    "WARNING_NOTES",
    "Column",
    "calibration_text",
    "decomposition_rows",
    "describe",
    "headline",
    "headline_cell",
    "headline_columns",
    "join_list",
    "method",
    "ratio_rows",
    "reproduce",
    "rounds_table",
    "rung_rows",
    "train_command",
    "warnings",
]
