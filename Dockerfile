# Sediment as a single container: config from a mounted file, overrides from the environment.
#   docker build -t sediment .
#   docker run -v $PWD/sediment.yaml:/etc/sediment/sediment.yaml:ro -e SEDIMENT_KAFKA_BROKERS=kafka:9092 sediment
FROM node:22-slim AS build
WORKDIR /app
# zlib-sync and zstd-napi build native addons
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

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
USER node
# SIGTERM → stop reading, flush and commit (upload.uploadOnShutdown), exit 0: give it a grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/sediment.js"]
CMD ["run", "--config", "/etc/sediment/sediment.yaml"]
