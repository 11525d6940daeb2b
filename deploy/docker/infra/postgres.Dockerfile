# PostgreSQL 15 stand-in for machines that cannot pull postgres:15 (Debian's postgresql-15).
# Accepts the official image's variables: POSTGRES_USER (postgres), POSTGRES_PASSWORD,
# POSTGRES_DB (= user), POSTGRES_HOST_AUTH_METHOD (scram-sha-256 if a password is set), PGDATA.
#
#   docker build -f deploy/docker/infra/postgres.Dockerfile \
#       --build-arg BASE_IMAGE=backdrop/python-base:bookworm -t backdrop/local-postgres:15 .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# postgresql-common first, so that installing postgresql-15 does not create a "main" cluster.
# JIT is left out (libLLVM, z3, bitcode: ~160 MB of a 400 MB image): dpkg skips those files,
# postgres then finds no JIT provider and runs without JIT (jit=off set too, to be explicit).
RUN printf '%s\n' \
      'path-exclude /usr/lib/x86_64-linux-gnu/libLLVM*' \
      'path-exclude /usr/lib/aarch64-linux-gnu/libLLVM*' \
      'path-exclude /usr/lib/x86_64-linux-gnu/libz3.so*' \
      'path-exclude /usr/lib/aarch64-linux-gnu/libz3.so*' \
      'path-exclude /usr/lib/postgresql/15/lib/bitcode/*' \
      'path-exclude /usr/lib/postgresql/15/lib/llvmjit*' \
      >/etc/dpkg/dpkg.cfg.d/90-no-postgres-jit \
 && export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null \
 && sed -ri 's/#?\s*(create_main_cluster)\s*=.*/\1 = false/' /etc/postgresql-common/createcluster.conf \
 && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 0700 /var/lib/postgresql/data

COPY deploy/docker/infra/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
USER postgres
EXPOSE 5432
# SIGINT = fast shutdown (as the official image): rolls back open transactions, exits quickly.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=5 \
    CMD ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]
ENTRYPOINT ["/bin/sh", "/usr/local/bin/postgres-entrypoint"]
CMD ["postgres"]
