# Multi-stage build: compile with the Rust toolchain, run on a small,
# non-root runtime image that holds only the binary and CA roots.
#   docker build -t entrust-gateway:0.1.0 .
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
RUN cargo build --release --locked --bin entrust-gateway

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/entrust-gateway /usr/local/bin/entrust-gateway
COPY deploy/gateway.toml /etc/entrust-gateway/gateway.toml
# Numeric: the kubelet can only verify runAsNonRoot against a numeric user
# (65532 is distroless's "nonroot").
USER 65532:65532
# 9901 is the admin listener (/healthz, /readyz, /metrics) on every
# interface; the API listens on 127.0.0.1:8080, reachable only from inside
# the pod or container, so it is not exposed.
EXPOSE 9901
ENTRYPOINT ["/usr/local/bin/entrust-gateway"]
CMD ["--config", "/etc/entrust-gateway/gateway.toml"]
