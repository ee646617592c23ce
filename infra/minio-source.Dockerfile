# MinIO RELEASE.2025-10-15T17-29-55Z, built from its source: the first release with the fix for
# CVE-2025-62506. MinIO publishes no image for it (its community edition is source-only since
# October 2025, and its repository is archived). Opt in with docker-compose.minio-source.yml
# (README, "The MinIO server"). The tag is checked against the commit it must point at.
FROM golang:1.24-bookworm@sha256:1a6d4452c65dea36aac2e2d606b01b4a029ec90cc1ae53890540ce6173ea77ac AS build

ARG MINIO_RELEASE=RELEASE.2025-10-15T17-29-55Z
ARG MINIO_COMMIT=9e49d5e7a648f00e26f2246f4dc28e6b07f8c84a

RUN git clone --depth 1 --branch "${MINIO_RELEASE}" https://github.com/minio/minio.git /src \
    && test "$(git -C /src rev-parse HEAD)" = "${MINIO_COMMIT}"
WORKDIR /src
# As MinIO's own Makefile builds it (target `build`: CGO off, kqueue tag, gen-ldflags.go).
RUN CGO_ENABLED=0 go build -tags kqueue -trimpath \
        -ldflags "$(go run buildscripts/gen-ldflags.go)" -o /out/minio \
    && /out/minio --version

# python:3.12-slim-bookworm (the provisioner's base, pinned by digest): a small Debian with curl
# added for the healthcheck (this image has no `mc`).
FROM python:3.12-slim-bookworm@sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/minio /usr/local/bin/minio
COPY --from=build /src/LICENSE /usr/share/doc/minio/LICENSE
EXPOSE 9000 9001
ENTRYPOINT ["minio"]
