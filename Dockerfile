# Sediment as a single container: config from a mounted file, overrides from the environment.
#   docker build -t sediment:0.1.0 .
#   docker run -v $PWD/sediment.yaml:/etc/sediment/sediment.yaml:ro -e SEDIMENT_KAFKA_BROKERS=kafka:9092 sediment:0.1.0
# For reproducible builds, pin the base image by digest (node:22-slim@sha256:...).
FROM node:22-slim AS build
WORKDIR /app
# No native addons: nothing compiles, so no toolchain; --ignore-scripts keeps it that way (an install script
# that needs python3/make/g++ would fail the build here rather than grow the image).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund --ignore-scripts
# The one script we do want (package.json "prepare"): the kafkajs patch (patches/, TimeoutNegativeWarning fix).
RUN npx --no-install patch-package
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:22-slim
ENV NODE_ENV=production
# /metrics, /healthz, /readyz must be reachable from outside the container (the config's default is loopback).
ENV SEDIMENT_METRICS_HOST=0.0.0.0
EXPOSE 9464
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# Non-root (uid 1000); the service writes nothing but its uploads, so a read-only root filesystem works.
USER node
# Liveness for plain Docker (Kubernetes uses the probes in deploy/k8s/deployment.yaml instead): /healthz on the
# metrics port, 9464 unless the config moves it. Node's fetch, since the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM → stop reading, flush and commit (upload.uploadOnShutdown), exit 0: give it a grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/sediment.js"]
CMD ["run", "--config", "/etc/sediment/sediment.yaml"]
