# syntax=docker/dockerfile:1
# The Rust services of docker-compose.yml (`ingest`, `analytics`, `sink`) in one image.
#
#   docker build -t tradesignal/pipeline:local .
#   docker run --rm tradesignal/pipeline:local sink --help
#
# Stage 1 builds the three release binaries from the locked workspace; stage 2 is a slim
# Debian with only them. Both stages are the same Debian release, so the binaries find the
# glibc they were linked against.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=trixie

# ---- Build ------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# protoc: the Spark Connect client (apache-spark-connect) generates its gRPC code at build time.
# npm: the web crate's build script installs the chart library (web/package-lock.json).
# librdkafka (bundled by rdkafka, with TLS, SASL SCRAM and zstd) builds with the C toolchain,
# make, pkg-config and the zlib and OpenSSL headers (libssl-dev) the rust image already has.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends protobuf-compiler npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Caches survive between builds (crates.io downloads and the target directory); the binaries
# are copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ingest --bin analytics --bin sink \
 && mkdir -p /out \
 && cp target/release/ingest target/release/analytics target/release/sink /out/

# ---- Runtime ----------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# CA roots for the TLS connection to Kraken and for TLS sinks, and OpenSSL's library for
# librdkafka's TLS (librdkafka and zstd are linked in statically, zlib is part of the base image).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libssl3t64 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/app app \
 && mkdir -p /data \
 && chown app:app /data
COPY --from=build /out/ /usr/local/bin/
USER app
WORKDIR /home/app
# Every flag of the three binaries has an environment-variable fallback (KAFKA_BROKERS,
# SPARK_REMOTE, SINK_ENDPOINT, ...); docker-compose.yml sets them per service.
CMD ["sink", "--help"]
