"""The article's claims, checked: one row per claim, each figure read from the run's files.

``claims_view(run_dir)`` returns what ``_claims.html.j2`` and ``_claims.md.j2`` render
(under the context key ``claims``): the claim quoted, what this run measured, and the
verdict the figures support. Sources: ``summary.json`` (comparisons, documentation
checks, the model's metadata), ``invalid_matrix.json`` (every catalogue case against
every target) and, when the model-cost sweep ran, ``sweep.json``. A difference is stated
only where its 95 % interval supports it (``loadtests.common.stats``).

One module per job: ``_rows`` (a row and its facts), ``_speed``, ``_invalid``, ``_docs``
(documentation and the model file), ``_sweep``, and ``_section`` assembling them.
"""

from loadtests.report.claims._section import claims_view, render_claims

__all__ = ["claims_view", "render_claims"]
