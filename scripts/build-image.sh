#!/usr/bin/env bash
# Build and tag Caretaker's image: caretaker:<version> and caretaker:latest,
# or under a registry: IMAGE=registry.example.org/ops/caretaker scripts/build-image.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
image=${IMAGE:-caretaker}
version=$(node -p "require('./package.json').version")
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
${DOCKER:-docker} build \
  --label "org.opencontainers.image.version=${version}" \
  --label "org.opencontainers.image.revision=${revision}" \
  -t "${image}:${version}" -t "${image}:latest" .
echo "built ${image}:${version} (${revision})"
