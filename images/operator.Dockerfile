# syntax=docker/dockerfile:1
# hookgate-operator. Built with `make images` (docker build -f images/operator.Dockerfile .).
# Compiled by tsc on Node 24; runs on distroless Node 24 (no shell, no package manager, ~half the
# size of node:24-slim) as UID 65532 with production dependencies only.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# TypeScript to dist/ (tsconfig.build.json: api, common, operator, sidecar; tests left out).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY api/ api/
COPY common/ common/
COPY operator/ operator/
COPY sidecar/ sidecar/
RUN npx tsc -p tsconfig.build.json

# node_modules without devDependencies (all pure JavaScript: nothing to compile).
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="hookgate-operator" \
      org.opencontainers.image.description="Hookgate control plane: reconciles WebhookEndpoints and WebhookPolicies, injects the sidecar" \
      org.opencontainers.image.source="https://github.com/hookgate/hookgate" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# package.json says "type": "module" for dist/.
COPY package.json ./
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
# admin (/healthz, /readyz, /metrics) and the injection webhook (HTTPS).
EXPOSE 8080 9443
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/operator/main.js"]
