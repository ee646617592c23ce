# The image of the minio-init service: Python and the Pulumi CLI, pinned to the SDK version in
# pyproject.toml, with the MinIO provider plugin preinstalled. The project itself is mounted.
FROM python:3.12-slim-bookworm

ARG PULUMI_VERSION=3.272.0
ARG PULUMI_MINIO_VERSION=0.17.1

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL https://get.pulumi.com | sh -s -- --version "${PULUMI_VERSION}"
ENV PATH="/root/.pulumi/bin:${PATH}" \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pulumi plugin install resource minio "${PULUMI_MINIO_VERSION}"

WORKDIR /project
CMD ["sh", "infra/provision.sh"]
