# Multi-stage build: compile with the Rust toolchain, run on a small,
# non-root runtime image that holds only the binary and CA roots.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
RUN cargo build --release --locked --bin entrust-gateway

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/entrust-gateway /usr/local/bin/entrust-gateway
COPY deploy/gateway.toml /etc/entrust-gateway/gateway.toml
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/entrust-gateway"]
CMD ["--config", "/etc/entrust-gateway/gateway.toml"]
