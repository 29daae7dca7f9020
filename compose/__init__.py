"""Run docker-compose.yml for real: `make compose-test` (``python -m compose``), `make up`
and `make down` (``python -m compose.deploy``).

``engine`` finds a container engine (Docker's if one answers, else podman behind its
Docker-compatible API, configured by ``containers.conf`` here only), ``base`` provides
the Dockerfile's base image (a Debian stand-in when no registry answers), ``spec`` reads
the Compose file (profiles, ports, project name), ``project`` drives one Compose project,
``stack`` builds, starts, checks, loads and removes the test's containers, timing each
step, and ``deploy`` leaves the servers running until `make down`.
"""
