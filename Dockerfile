# One image for every target of loadtests/targets.py and for the Locust load generator.
# docker-compose.yml picks the server by command; alone it serves the validated Flask app:
#   docker build -t flask-vs-fastapi . && docker run --rm -p 8001:8000 flask-vs-fastapi
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FVF_MODEL_DIR=/app/models

# A fixed uid, so files written to a bind mount (results/) belong to a predictable owner.
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies get their own layer, rebuilt only when pyproject.toml or the lock changes.
# Only the project's own dependencies (serving and load generation, not the dev extra),
# each at the version pinned in requirements.lock.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /tmp/requirements.txt \
    && pip install --constraint requirements.lock --requirement /tmp/requirements.txt \
    && pip check \
    && rm /tmp/requirements.txt

COPY . .
# Train at build time (synthetic data, fixed seed: deterministic), so the image is complete.
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m shared_model.train --out "$FVF_MODEL_DIR" \
    && install -d -o app -g app results

USER app
EXPOSE 8000
CMD ["python", "-m", "loadtests.serve", "flask", "--host", "0.0.0.0", "--port", "8000"]
