# syntax=docker/dockerfile:1
#
# gridgate gateway image. Two stages: the first builds gridgate and its
# dependencies into a virtualenv, the second copies only that virtualenv onto a
# clean slim base, so no compiler, pip cache or source tree ships.
#
#   docker build -t gridgate:local .
#   docker run --rm gridgate:local --help
#
# Deployment with the broker and simulator: see docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# .dockerignore keeps the virtualenv, caches, state and tests out of this copy.
COPY . .
RUN pip install .


FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="gridgate" \
      org.opencontainers.image.description="IoT edge gateway for urban grid governance"

# A fixed uid/gid so a bind-mounted state directory can be chown'ed on the host.
ARG GRIDGATE_UID=10001
RUN groupadd --system --gid ${GRIDGATE_UID} gridgate \
 && useradd --system --uid ${GRIDGATE_UID} --gid gridgate \
        --home-dir /var/lib/gridgate --no-create-home --shell /usr/sbin/nologin gridgate \
 && mkdir -p /var/lib/gridgate \
 && chown gridgate:gridgate /var/lib/gridgate

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GRIDGATE_API__HOST=0.0.0.0 \
    GRIDGATE_API__PORT=8080 \
    GRIDGATE_STATE_DIR=/var/lib/gridgate

# The directory is created and chown'ed above, before VOLUME, so a fresh named
# volume starts out owned by the gridgate user.
VOLUME ["/var/lib/gridgate"]
WORKDIR /var/lib/gridgate
USER gridgate:gridgate

EXPOSE 8080

# curl is not in slim images; urllib raises (exit 1) on refusal, timeout or a non-2xx.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GRIDGATE_API__PORT', '8080') + '/health', timeout=4)"]

ENTRYPOINT ["gridgate"]
CMD ["run"]
