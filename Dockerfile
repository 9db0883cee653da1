# One image serves every Caretaker function; the function is chosen at
# start (the Knative Service's `args`). The image runs a bundle per function
# built from the TypeScript sources (`npm run build`, scripts/build.ts):
# no TypeScript loader and no node_modules at run time, and V8's compile
# cache for every bundle made here, at build time.

# --- build: the bundles and their compile cache ------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# All dependencies (esbuild is a devDependency), no install scripts. The npm
# `node` package is then only a link to a binary its script would have
# fetched: the image's own Node 24 runs the build.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && rm -f node_modules/.bin/node
COPY shared ./shared
COPY functions ./functions
COPY scripts/build.ts ./scripts/build.ts
# The example configs the cache-warming starts use (build stage only).
COPY manifests ./manifests
# Each bundle started once (auth off, loopback, dry-run): Node writes V8's
# code cache of what it compiled to /app/compile-cache on exit. Paths in it
# are relative (NODE_COMPILE_CACHE_PORTABLE), dist/ and the cache keep their
# places in the runtime stage, and the same Node binary reads it.
RUN npm run build \
 && NODE_ENV=production node scripts/build.ts --warm /app/compile-cache

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
    PORT=8080 \
    # Read at start; a read-only cache directory is fine (Node writes only what changed, and skips it when it cannot).
    NODE_COMPILE_CACHE=/app/compile-cache \
    NODE_COMPILE_CACHE_PORTABLE=1
WORKDIR /app
# The bundles are self-contained: no node_modules, no sources.
COPY --from=build /app/dist ./dist
COPY --from=build /app/compile-cache ./compile-cache
# The unprivileged user of the node image (uid 1000); never root.
USER 1000:1000
EXPOSE 8080
# Node's options are scripts/build.ts's NODE_FLAGS, which the compile cache was
# written under (V8 refuses a cache made under other flags): --liftoff-only
# keeps the Kubernetes client's WebAssembly HTTP parser on V8's baseline
# compiler (its optimizing recompile cost 12 MiB of memory a process).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--liftoff-only", "dist/main.mjs"]
# The function to run, e.g. `verify-backup`; Knative passes it as args.
CMD []
