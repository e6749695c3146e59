# A single-member etcd for docker/compose.yaml and the image test, from Debian's etcd-server
# package (the machines this project is tested on have no registry to pull an etcd image from).
# With a registry, any etcd >= 3.4 image does (e.g. gcr.io/etcd-development/etcd:v3.5.17).
ARG BASE_IMAGE=debian:bookworm-slim
# checkov:skip=CKV_DOCKER_7: the base image is a build argument whose default has a version tag (debian:bookworm-slim); checkov cannot see through ARG
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server etcd-client \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/etcd-data && chown nobody:nogroup /var/lib/etcd-data && chmod 0700 /var/lib/etcd-data
USER nobody
HEALTHCHECK --interval=2s --timeout=2s --retries=30 CMD ["etcdctl", "--endpoints=http://127.0.0.1:2379", "endpoint", "health"]
ENTRYPOINT ["etcd"]
CMD ["--name=etcd", "--data-dir=/var/lib/etcd-data/default", \
     "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://etcd:2379", \
     "--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380", \
     "--initial-cluster=etcd=http://127.0.0.1:2380"]
