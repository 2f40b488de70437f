# syntax=docker/dockerfile:1
#
# sidekey: a static (musl) binary in an otherwise empty image.
#
#   docker build -t sidekey .                        # the daemon image (the last stage, `sidekey`)
#   docker build --target openclaw -t openclaw-sidekey .   # OpenClaw with the sidekey client added
#
# deploy/compose.yaml builds both from this file, so the Rust code is compiled once (the two images
# share the `builder` stage) and there is no build-order problem between two Dockerfiles.
# x86_64 only for now (the target triple below).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG OPENCLAW_IMAGE=ghcr.io/openclaw/openclaw:latest
ARG DOCKER_CLI_IMAGE=docker:28-cli

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
# musl-tools provides x86_64-linux-musl-gcc, which cc-rs finds on its own; ring's C and assembly
# need it. Do not point CC at glibc's gcc instead (docs: it links, then breaks elsewhere).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
# Caching: the manifests go in first, the sources after; compiled dependencies survive source
# changes in BuildKit cache mounts (the cargo registry and target/). That replaces the usual
# "dummy main.rs" trick, which breaks on this workspace's declared [[bench]] targets.
# --no-default-features leaves out `sidekey demo` and with it the test kit's fake servers.
COPY Cargo.toml Cargo.lock ./
# The musl target is linked as a plain static executable, not a static PIE (.cargo/config.toml).
COPY .cargo/ .cargo/
COPY crates/ crates/
RUN --mount=type=cache,id=sidekey-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=sidekey-target-musl,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl -p sidekey --no-default-features \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/sidekey /out/sidekey
# The folders the final image needs, with owner and mode, because scratch has no shell to make
# them: /data (the vault, SIDEKEY_HOME, 0700) and /run/sidekey (the socket, 0750: the group may
# enter and connect, see deploy/compose.yaml), plus a /tmp.
RUN mkdir -p /out/data /out/run-sidekey /out/tmp \
 && chown 65532:65532 /out/data /out/run-sidekey \
 && chmod 0700 /out/data \
 && chmod 0750 /out/run-sidekey \
 && chmod 1777 /out/tmp

# ---------------------------------------------------------------------------------------------
# OpenClaw's official image with the sidekey binary added as the *client* (SIDEKEY_URL points at
# the daemon's socket; it holds no vault, no vault key, no refresh token). Built only on request
# (`--target openclaw`, or by deploy/compose.yaml). OpenClaw runs as `node` (uid 1000).
FROM ${OPENCLAW_IMAGE} AS openclaw
# The GitHub CLI, so the sidekey-github skill (requires.bins: sidekey, gh) is eligible: OpenClaw's
# image has git and curl but no gh. Debian's own package (bookworm: gh 2.23), signed by the
# archive keys already in the image; `sidekey exec NAME -- gh ...` gives it the token.
# OpenClaw's image ends as `node`; installing needs root for this one step.
USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gh \
 && rm -rf /var/lib/apt/lists/* \
 && gh --version
USER node
# Owned by `node` (uid 1000), mode 0555: OpenClaw runs an exec secret provider only when the
# command is owned by the gateway's own user (dist/exec-provider-path-validation-*.mjs), and
# `sidekey secret-provider` is one. Owning it gives the agent nothing it lacks: it runs as node
# and holds the API key already.
COPY --from=builder --chown=1000:1000 --chmod=0555 /out/sidekey /usr/local/bin/sidekey
# Same owner and mode as in the sidekey image, so whichever container first mounts the shared
# socket volume gives it the right owner (compose.yaml also fixes it with tmpfs options).
COPY --from=builder --chown=65532:65532 /out/run-sidekey /run/sidekey

# ---------------------------------------------------------------------------------------------
# ONLY for deploy/compose.docker-exec.yaml (the seed's pattern, kept to show what not to do):
# OpenClaw plus the docker CLI, to be run with the host's docker.sock. That is root on the host.
FROM ${DOCKER_CLI_IMAGE} AS docker-cli
FROM ${OPENCLAW_IMAGE} AS openclaw-docker-exec
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker

# ---------------------------------------------------------------------------------------------
# The daemon image (default target). Why `scratch` and not distroless/static: the binary is
# static, Mozilla's TLS roots are compiled in (no CA bundle needed), nothing needs timezone data
# (times are UTC/RFC 3339), and it looks up no users (numeric USER, SIDEKEY_HOME set). So the
# image is the binary and three empty folders: no shell, no package manager, nothing else to
# patch. The price: debugging happens with `docker run --rm sidekey <command>`, not a shell.
FROM scratch AS sidekey
LABEL org.opencontainers.image.title="sidekey" \
      org.opencontainers.image.description="Auth sidecar for AI agents: device-flow sign-in, encrypted token vault" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /out/sidekey /usr/local/bin/sidekey
COPY --from=builder --chown=65532:65532 /out/data /data
COPY --from=builder --chown=65532:65532 /out/run-sidekey /run/sidekey
COPY --from=builder /out/tmp /tmp
ENV SIDEKEY_HOME=/data \
    SIDEKEY_CONFIG=/etc/sidekey/config.toml
USER 65532:65532
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/sidekey", "health"]
ENTRYPOINT ["/usr/local/bin/sidekey"]
CMD ["serve"]
