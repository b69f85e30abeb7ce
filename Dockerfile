# One image for the services and the portal; the command picks which and the action:
#   python -m pool_service [migrate|seed]      (listens on 8081)
#   python -m bidding_service [migrate]        (listens on 8082)
#   python -m portal                           (the public portal, listens on 8080)

# Needs BuildKit (Docker 20.10+; the default builder since 23.0). No `# syntax=` line:
# the builder's own Dockerfile frontend is used, so no frontend image is pulled.
#
# The base: the pinned upstream Python image, or any Debian bookworm image with
# python3 (3.11) and python3-venv, e.g. one made with debootstrap where Docker Hub is
# out of reach (tests/containers does that): --build-arg BASE_IMAGE=<image>.
# Only `python3` is used from the base (/usr/local/bin upstream, /usr/bin in Debian).
ARG BASE_IMAGE=python:3.11.13-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Build-only pip settings, for machines that need them, as BuildKit secrets: mounted
# for one RUN and never stored in a layer, the history or the runtime stage.
#   --secret id=pip_cert,src=<CA bundle>  a TLS-intercepting proxy's CA on the way to PyPI
#   --secret id=pip_conf,src=<pip.conf>   index-url/proxy of a private index
# Without them (the usual case) pip uses PyPI with its own CA bundle.
RUN printf '%s\n' '#!/bin/sh' \
        '[ -s /run/secrets/pip_cert ] && export PIP_CERT=/run/secrets/pip_cert' \
        '[ -s /run/secrets/pip_conf ] && export PIP_CONFIG_FILE=/run/secrets/pip_conf' \
        'exec pip "$@"' > /usr/local/bin/build-pip \
    && chmod 0755 /usr/local/bin/build-pip

# Dependencies first, read from pyproject.toml, so that a code change does not
# reinstall them (this layer is rebuilt only when pyproject.toml changes).
COPY pyproject.toml ./
RUN --mount=type=secret,id=pip_cert --mount=type=secret,id=pip_conf \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && build-pip install -r /tmp/requirements.txt

# Then the project itself (what .dockerignore lets through).
COPY . .
# Not editable: the code lands in site-packages (bytecode compiled by pip), so the
# runtime image needs no source tree and works with a read-only root filesystem.
RUN --mount=type=secret,id=pip_cert --mount=type=secret,id=pip_conf \
    build-pip install --no-deps .


FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="procurement-pools" \
      org.opencontainers.image.description="Pool and bidding services of the procurement system" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed numeric uid/gid, so Kubernetes can verify runAsNonRoot.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && mkdir /app

COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/healthcheck

USER 10001:10001
WORKDIR /app
EXPOSE 8081 8082 8080

# Liveness only (/healthz); readiness (/readyz) is for orchestrators that route traffic.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/bin/healthcheck", "/healthz"]

# Exec form: python is PID 1 and receives SIGTERM itself (graceful shutdown).
CMD ["python", "-m", "pool_service"]
