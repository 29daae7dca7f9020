"""Load tests, the bench runner and the report."""
