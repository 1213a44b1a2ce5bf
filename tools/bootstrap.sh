#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, demo and test MobyDistribution:
# the real registry (docker-registry), the reference clients (skopeo, umoci), htpasswd, mono (for the net48 tests), and the pinned pwsh tool.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  echo "Installing: $*"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "$@" >/dev/null
}

need=()
for pair in docker-registry:docker-registry skopeo:skopeo umoci:umoci htpasswd:apache2-utils curl:curl; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
[ ${#need[@]} -gt 0 ] && apt_install "${need[@]}"
# Mono runs Core's unit tests built for net48, as Windows PowerShell 5.1 would load Core (build.ps1 -Task Test).
# About a minute from Debian's mirror without recommends (mono-complete 6.8: 53 s here, about 200 MB under /usr/lib/mono).
command -v mono >/dev/null 2>&1 || apt_install --no-install-recommends mono-complete

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet tool restore >/dev/null
echo "Ready: $(docker-registry --version 2>/dev/null | head -n1); $(skopeo --version); $(mono --version | head -n1); pwsh $(dotnet pwsh -NoProfile -Command '$PSVersionTable.PSVersion.ToString()')"
