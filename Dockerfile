# One image serves every Caretaker function; the function is chosen at
# start (the Knative Service's `args`). Node 24 runs the TypeScript sources
# directly (type stripping), so there is no build step to drift from them.

# --- production dependencies only --------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No devDependencies (tests, simulators, the npm `node` package), no scripts.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- runtime -----------------------------------------------------------------
FROM node:24-bookworm-slim
# The programs of verify-backup's restore tests, each restoring into a
# throwaway server or clone (Debian 12 packages):
# - postgresql-15, postgresql-client-15: dumps into a throwaway PostgreSQL
#   (initdb, postgres, psql, pg_dumpall);
# - etcd-server, etcd-client: etcd snapshots (etcdctl snapshot restore, then
#   a throwaway etcd; Debian's 3.4 has no etcdutl, which is used when present);
# - redis-server: RDB files loaded by a throwaway redis-server;
# - git: bundles verified, cloned and checked with git fsck.
# Nothing else.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15 etcd-server etcd-client redis-server git ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* /var/lib/postgresql /var/lib/etcd /var/lib/redis
ENV NODE_ENV=production \
    # Writes go to the mounted temp volume only: the root filesystem may be read-only.
    TMPDIR=/tmp \
    HOME=/tmp \
    PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY shared ./shared
COPY functions ./functions
# The unprivileged user of the node image (uid 1000); never root.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "shared/runtime/main.ts"]
# The function to run, e.g. `verify-backup`; Knative passes it as args.
CMD []
