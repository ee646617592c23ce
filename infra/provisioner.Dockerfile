# The image of the minio-init service: Python, the Pulumi CLI pinned to the SDK version in
# pyproject.toml, the MinIO and command provider plugins, and the dev stack's Python packages
# (requirements/infra-minio.txt, hashed), all baked in: provisioning again needs no network.
# The project itself is mounted at /project and found through PYTHONPATH.
# python:3.12-slim-bookworm, pinned by digest (docker buildx imagetools inspect to move it).
FROM python:3.12-slim-bookworm@sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254

ARG PULUMI_VERSION=3.272.0
ARG PULUMI_MINIO_VERSION=0.17.1
ARG PULUMI_COMMAND_VERSION=1.2.1
ARG TARGETARCH=amd64

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# The CLI tarball from get.pulumi.com, checked against the SHA-256 that Pulumi's GitHub release
# publishes for it (another origin); no install script piped into a shell.
RUN set -eu; \
    case "${TARGETARCH}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; \
        *) echo "unsupported architecture ${TARGETARCH}" >&2; exit 1 ;; esac; \
    tarball="pulumi-v${PULUMI_VERSION}-linux-${arch}.tar.gz"; \
    cd /tmp; \
    curl -fsSLo "${tarball}" "https://get.pulumi.com/releases/sdk/${tarball}"; \
    curl -fsSLo checksums.txt \
        "https://github.com/pulumi/pulumi/releases/download/v${PULUMI_VERSION}/pulumi-${PULUMI_VERSION}-checksums.txt"; \
    grep " ${tarball}\$" checksums.txt > expected.txt; \
    sha256sum -c expected.txt; \
    tar -xzf "${tarball}" -C /usr/local/lib; \
    ln -s /usr/local/lib/pulumi/pulumi /usr/local/bin/pulumi; \
    rm -f "${tarball}" checksums.txt expected.txt; \
    pulumi version
ENV PULUMI_SKIP_UPDATE_CHECK=true \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pulumi plugin install resource minio "${PULUMI_MINIO_VERSION}" \
    && pulumi plugin install resource command "${PULUMI_COMMAND_VERSION}"

# The dev stack's packages, exactly as locked (hashes checked), in /opt/venv.
COPY requirements/bootstrap.txt requirements/infra-minio.txt /tmp/requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet --require-hashes --no-deps --only-binary :all: \
        -r /tmp/requirements/bootstrap.txt \
    && /opt/venv/bin/pip install --quiet --require-hashes --no-deps --only-binary :all: \
        -r /tmp/requirements/infra-minio.txt \
    && /opt/venv/bin/pip check \
    && rm -rf /tmp/requirements
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONPATH=/project

WORKDIR /project
CMD ["sh", "infra/provision.sh"]
