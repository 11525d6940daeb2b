# Redis 7 stand-in for machines that cannot pull redis:7 (Debian bookworm's redis-server 7.0),
# with append-only persistence on, data in /data (mount a volume there).
#
#   docker build -f deploy/docker/infra/redis.Dockerfile \
#       --build-arg BASE_IMAGE=backdrop/python-base:bookworm -t backdrop/local-redis:7 .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log \
 && mkdir -p /data && chown redis:redis /data \
 && printf '%s\n' \
      'bind * -::*' \
      'protected-mode no' \
      'port 6379' \
      'daemonize no' \
      'logfile ""' \
      'dir /data' \
      'appendonly yes' \
      'appendfsync everysec' \
      'save 3600 1 300 100 60 10000' \
      >/etc/redis/backdrop.conf

USER redis
WORKDIR /data
EXPOSE 6379
# redis-server saves (AOF fsync + RDB if configured) and exits on SIGTERM.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 \
    CMD ["sh", "-c", "[ \"$(redis-cli -h 127.0.0.1 ping)\" = PONG ]"]
# Extra arguments override the file: `docker run IMAGE --appendonly no`.
ENTRYPOINT ["redis-server", "/etc/redis/backdrop.conf"]
