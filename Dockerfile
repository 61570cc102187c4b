# Overworld server image: `docker build -t overworld .` then `docker run -p 7350:7350 overworld`.
# Two stages: the build stage installs Overworld and its dependencies, at the versions pinned in
# requirements.lock, into a virtual environment; the final stage is the same slim Python base with
# only that environment copied in: no compiler, no pip, no package manager runs in it, and the
# server runs as an unprivileged user. See docs/deployment.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/overworld
COPY pyproject.toml setup.py requirements.lock README.md ./
COPY overworld ./overworld
# Every dependency at its pinned version (wheels: nothing is compiled), then drop the installers.
# The build (setup.py) generates the protobuf socket's code with grpcio-tools, which pip fetches
# into its isolated build environment (pyproject.toml [build-system]); it is not installed.
RUN /opt/overworld/bin/pip install --no-cache-dir --constraint requirements.lock . \
    && /opt/overworld/bin/pip uninstall --yes pip setuptools \
    && /opt/overworld/bin/python -m compileall -q /opt/overworld/lib

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 overworld \
    && useradd --system --uid 10001 --gid overworld --home-dir /srv/overworld --create-home \
       --shell /usr/sbin/nologin overworld \
    && mkdir /data \
    && chown overworld:overworld /data
COPY --from=build /opt/overworld /opt/overworld
# SQLite lives under /data when no database URL is set: mount a volume there.
ENV PATH=/opt/overworld/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OVERWORLD_HOST=0.0.0.0 \
    OVERWORLD_DATA_DIR=/data
WORKDIR /srv/overworld
USER 10001:10001
EXPOSE 7350
STOPSIGNAL SIGTERM
# Liveness of the process (docs/operations.md): /healthz answers 200 while the server serves.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OVERWORLD_PORT', '7350'), timeout=2)"]
CMD ["overworld", "serve"]
