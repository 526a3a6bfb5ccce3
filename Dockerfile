# syntax=docker/dockerfile:1
# FlowGPT: build with the dev toolchain, run with production dependencies only, as the unprivileged `node` user.
# test/resilience/docker-steps.resilience-spec.ts (npm run test:resilience) performs these same steps without Docker.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=5005 \
    DATA_DIR=/app/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY views ./views
COPY static ./static
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 5005
VOLUME ["/app/data"]
# The slim image has no curl: ask /healthz with node itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:'+(process.env.PORT||5005)+'/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
