"""Run docker-compose.yml for real: `make compose-test` (``python -m compose``).

``engine`` finds a container engine (Docker's if one answers, else podman behind its
Docker-compatible API, configured by ``containers.conf`` here only), ``base`` provides
the Dockerfile's base image (a Debian stand-in when no registry answers) and ``stack``
builds, starts, checks, loads and removes the project's containers, timing each step.
"""
