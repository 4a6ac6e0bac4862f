# syntax=docker/dockerfile:1
# Build stage: install everything, bundle src/ into dist/main.mjs with esbuild.
FROM node:20-bookworm-slim AS build
# swagger-ui-dist pulls in @scarf/scarf, whose install step would phone home: off.
ENV SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json esbuild.config.mjs ./
COPY src ./src
COPY handlers ./handlers
RUN npm run build

# Runtime stage: production dependencies (DuckDB's native bindings) and the bundle only.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SCARF_ANALYTICS=false \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000 \
    DEBUG=false \
    UV_THREADPOOL_SIZE=16
WORKDIR /app
COPY package.json package-lock.json ./
# The /docs page serves Swagger UI's files from node_modules/swagger-ui-dist (a production
# dependency, read at run time, not bundled): fail the build if it is not there.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
    && node -e "require.resolve('swagger-ui-dist/package.json')"
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8000
# main.ts drains in-flight requests and closes DuckDB cleanly on SIGTERM.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--enable-source-maps", "dist/main.mjs"]
