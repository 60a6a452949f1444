# ferrolb's container image: ferrolb-controller, ferrolb-speaker and the ferrolb operator tool.
#
#   docker build -t ghcr.io/ferrolb/ferrolb:v0.1.0 .
#
# The manifests (deploy/) run /usr/local/bin/ferrolb-controller and /usr/local/bin/ferrolb-speaker from it.
# Build stage: the workspace at its locked versions. The speaker with the `image` profile (Cargo.toml: release
# plus LTO, one codegen unit, opt-level s, panic abort — a smaller resident set on every node); the controller
# and the tool with `release` (the controller turns a panicked status-write task into a retried write, which
# needs unwinding). Runtime stage: distroless (glibc, CA
# certificates, no shell); TLS is rustls, so no OpenSSL is needed.

# The toolchain the project is tested with (kube 5 needs Rust >= 1.89).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile image --locked -p ferrolb-speaker \
 && cargo build --release --locked -p ferrolb-controller -p ferrolb \
 && install -D -m 0755 -t /out target/image/ferrolb-speaker target/release/ferrolb-controller target/release/ferrolb

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/ferrolb/ferrolb" \
      org.opencontainers.image.description="ferrolb: bare-metal LoadBalancer for Kubernetes (controller, speaker)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ /usr/local/bin/
# The controller runs as this user; the speaker's DaemonSet sets runAsUser: 0 (raw sockets) with only
# NET_RAW, NET_ADMIN and BPF.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferrolb-controller"]
