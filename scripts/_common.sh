# Shared by scripts/start and scripts/test: find a Python, install system packages, make the venv.
# shellcheck shell=bash

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install sudo or run as root)"
  fi
}

# Install Debian/Ubuntu packages that are missing (no-op when all are there or apt is absent).
ensure_debs() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "please install these system packages with your package manager: ${missing[*]}"
    return 0
  fi
  say "installing system packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The first Python 3.11-3.13 on PATH (qasync does not support 3.14 yet).
find_python() {
  local candidate
  for candidate in "${TIDINGS_PYTHON:-}" python3 python3.13 python3.12 python3.11; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 13)))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

# Create (or reuse) .venv and install Tidings into it with the given extras, e.g. "test,lint".
ensure_venv() {
  local extras="$1" python
  python=$(find_python) || {
    ensure_debs python3 python3-venv
    python=$(find_python) || die "Tidings needs Python 3.11, 3.12 or 3.13; install one and set TIDINGS_PYTHON to it"
  }
  # A stock Debian/Ubuntu Python refuses `pip install` (PEP 668) and needs python3-venv for venvs.
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    local minor; minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    ensure_debs "python${minor}-venv"
  fi
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
    say "creating .venv with $("$python" --version)"
    "$python" -m venv .venv
  fi
  say "installing Tidings${extras:+ [$extras]} into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
}

# The system libraries Qt's xcb platform plugin needs on a Debian/Ubuntu desktop (a full desktop
# has them; a minimal or container install may not).
QT_DEBS=(libegl1 libgl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0
  libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-randr0
  libxcb-xinerama0 libxcb-xkb1 libdbus-1-3 fonts-dejavu-core)
