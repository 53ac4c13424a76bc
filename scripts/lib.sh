# Shared helpers for the scripts in this directory. Sourced, not run.

# shellcheck disable=SC2034
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The Python environment that jobs on the cluster use. It must be readable by every cluster user,
# so when we are root it lives under /opt; otherwise in the repo.
if [[ -z "${HPC_JUPYTER_VENV:-}" ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    HPC_JUPYTER_VENV=/opt/hpc-jupyter/venv
  else
    HPC_JUPYTER_VENV="$REPO_ROOT/.venv"
  fi
fi
export HPC_JUPYTER_VENV

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
