# syntax=docker/dockerfile:1

# ---- build -------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /build

# Build the dependencies first, against a dummy crate, so this slow layer is reused
# from the cache until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
# The manifest declares the benchmarks; cargo refuses a manifest whose targets are
# missing, even when it does not build them.
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# Now the real sources. Migrations are embedded in the binary by sqlx::migrate!, which
# reads the directory at compile time, so it must be present in this stage.
COPY migrations ./migrations
COPY src ./src
# COPY keeps the files' original mtimes, which can be older than the dummy build; touch
# them so cargo rebuilds our crate instead of keeping the dummy.
RUN touch src/lib.rs src/main.rs \
    && cargo build --release --locked

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: outbound HTTPS to identity providers, HR systems and SMTP over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Never run as root. A fixed uid/gid lets volume permissions and Kubernetes'
# runAsNonRoot work predictably.
RUN groupadd --system --gid 10001 ownerbound \
    && useradd --system --uid 10001 --gid ownerbound \
        --home-dir /var/lib/ownerbound --no-create-home \
        --shell /usr/sbin/nologin ownerbound \
    && install -d -o ownerbound -g ownerbound -m 0750 /var/lib/ownerbound

COPY --from=builder /build/target/release/ownerbound /usr/local/bin/ownerbound

# The working directory holds the embedded SQLite database (sqlite://ownerbound.db) and
# its generated key file when no PostgreSQL URL or master key is configured; keep it
# on a volume so they survive container replacement.
WORKDIR /var/lib/ownerbound
VOLUME ["/var/lib/ownerbound"]

# The default listen address is loopback-only, which is unreachable from outside a
# container.
ENV OWNERBOUND_LISTEN=0.0.0.0:8080
EXPOSE 8080

USER 10001:10001

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["ownerbound", "healthcheck"]

ENTRYPOINT ["ownerbound"]
CMD ["serve"]
