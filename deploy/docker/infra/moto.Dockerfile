# S3 stand-in for machines without MinIO: moto_server (moto[s3] + flask + flask-cors at uv.lock's
# versions; S3, SQS and SNS work, so bucket notifications do too),
# installed from host-built wheels (scripts/containers/wheels.sh moto), in-memory storage.
# It does not enforce presigned signatures/expiry/policies (see ENVIRONMENT.md).
#
#   scripts/containers/wheels.sh moto
#   docker build -f deploy/docker/infra/moto.Dockerfile \
#       --build-arg BASE_IMAGE=backdrop/python-base:bookworm -t backdrop/local-s3:moto .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
COPY .run/wheels/moto/ /wheels/
RUN want="$(cat /wheels/deps/TARGET)" \
 && have="$(python3 -c 'import sys, platform; print("cp%d%d %s" % (sys.version_info[0], sys.version_info[1], platform.machine()))')" \
 && if [ "$want" != "$have" ]; then \
      echo "ERROR: .run/wheels/moto holds wheels for '$want', the base image runs '$have'" >&2; exit 1; \
    fi \
 && python3 -m venv --without-pip /opt/venv \
 && /opt/venv/bin/python /wheels/tools/pip.whl/pip install -q --no-index --no-deps \
      --find-links /wheels/deps -r /wheels/deps/requirements.txt \
 && /opt/venv/bin/python /wheels/tools/pip.whl/pip check

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 moto \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin moto
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /tmp
EXPOSE 9000
# A Python PID 1 ignores SIGTERM unless it installs a handler; SIGINT raises KeyboardInterrupt.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=3s --start-period=15s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/moto-api/', timeout=2)"]
ENTRYPOINT ["moto_server", "-H", "0.0.0.0"]
CMD ["-p", "9000"]
