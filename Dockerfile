# One image for every skyroute service; compose / Kubernetes choose the service with
# `command`, e.g. ["python", "-m", "token_service"]. Hence no ENTRYPOINT or CMD here.
#
# Two stages: `build` installs the runtime dependencies into a virtualenv and generates
# services/generated from protos/ with grpcio-tools; the runtime stage copies the
# virtualenv and the source and has no compiler, no grpcio-tools, no test or lint tools.

FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Runtime dependencies (requirements.txt only) into the virtualenv the image ships;
# this layer is rebuilt only when requirements.txt changes.
RUN python -m venv /opt/venv
COPY requirements.txt requirements-dev.txt /src/
RUN /opt/venv/bin/pip install -r /src/requirements.txt

# grpcio-tools, at requirements-dev.txt's pin, outside that virtualenv: it generates
# the code and stays in this stage.
RUN pip install "$(grep -E '^grpcio-tools==' /src/requirements-dev.txt)"

COPY . /src
WORKDIR /src
# Generated code comes from protos/ at build time, never from the build context;
# byte-compile once here because the root filesystem is read-only at run time.
RUN python scripts/gen_protos.py \
    && /opt/venv/bin/python -m compileall -q .


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 skyroute \
    && useradd --system --uid 10001 --gid skyroute --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin skyroute

# Owned by root, so the service cannot change its own code; nothing is written at run
# time but /tmp (an emptyDir under Kubernetes' read-only root filesystem).
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src /app
WORKDIR /app

USER 10001:10001
# token 50051/9461, search 50061/9471, booking 50071/9481, account 50081/9491,
# tracking 50091/9501,
# provider stand-in 8081
EXPOSE 50051 9461 50061 9471 50071 9481 50081 9491 50091 9501 8081
