"""The bench: the runner (``python -m loadtests.bench``), its load generators and phases."""
