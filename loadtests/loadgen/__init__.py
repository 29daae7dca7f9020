"""What sends requests: the three load generators a bench run drives, each with one typed result.

- Locust (closed loop, exact HdrHistograms): ``locustfile`` (the users), ``locust_driver``
  (the master process, ``python -m loadtests.loadgen.locust_driver``), ``locust_master``
  (the runner's handle on it, ``LocustMaster``) and ``locust_phase`` (what a phase sends, and
  ``LocustResult``, what it measured).
- wrk (closed loop, C, one fixed concurrency): ``wrk`` (``WrkResult``).
- The open-loop client (Poisson arrivals timed from the intended send): ``openloop``
  (``StepResult``) and ``stepworker``, the pinned real-time process it runs in.

What a run does with them (rounds, phases, figures) is ``loadtests.bench``'s. Nothing here
imports it; this package imports neither Locust nor gevent at import time (``locustfile``
and ``locust_driver`` do, and only the Locust processes import them).
"""
