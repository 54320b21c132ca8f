# One image for every skyroute service; compose / Kubernetes choose the service with
# `command`, e.g. ["python", "-m", "token_service"]. Hence no ENTRYPOINT or CMD here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 skyroute \
    && useradd --system --uid 10001 --gid skyroute --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin skyroute

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# Generated code comes from protos/ at build time, never from the build context;
# byte-compile once here because the root filesystem is read-only at run time.
RUN python scripts/gen_protos.py \
    && python -m compileall -q .

USER 10001:10001
# token 50051/9461, search 50061/9471, booking 50071/9481, provider stand-in 8081
EXPOSE 50051 9461 50061 9471 50071 9481 8081
