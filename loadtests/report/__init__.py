"""The report: a run folder's files -> figures -> tables, charts, verdict -> HTML and Markdown."""
