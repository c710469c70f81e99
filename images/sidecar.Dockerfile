# syntax=docker/dockerfile:1
# hookgate-sidecar. Built with `make images` (docker build -f images/sidecar.Dockerfile .).
# Runs on Debian slim rather than distroless: the transparent-interception init container runs
# `hookgate-sidecar iptables apply ...` from this image, which needs iptables (nft and legacy).
# The proxy itself runs as UID/GID 15000, the UID interception excludes from redirection.
ARG NODE_IMAGE=node:24-bookworm-slim

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

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="hookgate-sidecar" \
      org.opencontainers.image.description="Hookgate data plane: signs, verifies, rate-limits, retries and circuit-breaks webhooks next to an app" \
      org.opencontainers.image.source="https://github.com/hookgate/hookgate" \
      org.opencontainers.image.licenses="Apache-2.0"
# iptables (Debian ships iptables-nft and iptables-legacy in one package) for the init container;
# npm, npx, corepack and yarn are not needed at run time and only widen the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
 && rm -f /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && groupadd --system --gid 15000 hookgate \
 && useradd --system --uid 15000 --gid 15000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hookgate
ENV NODE_ENV=production
WORKDIR /app
# package.json says "type": "module" for dist/.
COPY package.json ./
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The program keeps its `#!/usr/bin/env node` line through tsc; Node resolves the link to
# /app/dist, so package.json and node_modules are found as usual.
RUN chmod 0755 dist/sidecar/main.js \
 && ln -s /app/dist/sidecar/main.js /usr/local/bin/hookgate-sidecar
USER 15000:15000
# egress (loopback), ingress, admin (/healthz, /readyz, /metrics, /config).
EXPOSE 15001 15006 15020
ENTRYPOINT ["hookgate-sidecar"]
