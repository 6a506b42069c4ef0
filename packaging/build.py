"""Build the PyInstaller binary: ``dist/tidings-<version>-<os>-<arch>[-onefile]`` (folder or file).

    .venv/bin/python packaging/build.py                  # onedir: dist/<name>/tidings
    .venv/bin/python packaging/build.py --onefile        # onefile: dist/<name>-onefile[.exe]
    .venv/bin/python packaging/build.py --archive        # also dist/<name>.tar.gz (.zip off Linux)
    .venv/bin/python packaging/build.py --print-executable [--onefile]   # the path, no build

The last line printed is ``executable: PATH``, what ``smoke_test.py`` runs. On
macOS the onedir build is also wrapped as ``dist/Tidings.app`` (LSUIElement:
no Dock icon); its executable is the one reported there.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from trim import artifact_name  # noqa: E402

BUILD_TIMEOUT = 1800.0


def version() -> str:
    text = (ROOT / "app" / "tidings" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("error: no __version__ in app/tidings/__init__.py")
    return match.group(1)


def executable(dist: Path, *, onefile: bool) -> Path:
    """Where the built program to run from a terminal is (what smoke_test.py takes)."""
    name = artifact_name(version(), onefile=onefile)
    suffix = ".exe" if sys.platform == "win32" else ""
    if onefile:
        return dist / f"{name}{suffix}"
    if sys.platform == "darwin":
        return dist / "Tidings.app" / "Contents" / "MacOS" / "tidings"
    if sys.platform == "win32":
        return dist / name / "tidings-cli.exe"  # the console twin of the windowed tidings.exe
    return dist / name / "tidings"


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())


def archive(dist: Path) -> Path:
    """The onedir folder (or the .app) as one file to download."""
    name = artifact_name(version())
    if sys.platform == "darwin":
        root, base = dist, "Tidings.app"
    else:
        root, base = dist, name
    kind = "gztar" if sys.platform.startswith("linux") else "zip"
    made = shutil.make_archive(str(dist / name), kind, root_dir=root, base_dir=base)
    return Path(made)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Tidings binary with PyInstaller.")
    parser.add_argument("--onefile", action="store_true", help="one self-extracting executable")
    parser.add_argument("--archive", action="store_true", help="also pack the onedir build")
    parser.add_argument("--no-trim", action="store_true", help="keep every collected Qt file")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument(
        "--print-executable", action="store_true", help="print where the program is; no build"
    )
    args = parser.parse_args(argv)
    exe = executable(args.dist, onefile=args.onefile)
    if args.print_executable:
        sys.stdout.write(f"{exe}\n")
        return 0
    spec_args = [
        flag for flag, on in (("--onefile", args.onefile), ("--no-trim", args.no_trim)) if on
    ]
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(args.dist),
        "--workpath",
        str(args.work / ("onefile" if args.onefile else "onedir")),
        str(HERE / "tidings.spec"),
        "--",
        *spec_args,
    ]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, timeout=BUILD_TIMEOUT, check=False)
    took = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(f"error: PyInstaller failed (exit {proc.returncode}) after {took:.0f} s\n")
        return 1
    if not exe.is_file():
        sys.stderr.write(f"error: PyInstaller finished but {exe} is not there\n")
        return 1
    built = exe if args.onefile else exe.parent
    if sys.platform == "darwin" and not args.onefile:
        built = args.dist / "Tidings.app"
    sys.stdout.write(f"built {built} in {took:.1f} s: {size_of(built) / 1e6:.1f} MB\n")
    if args.archive and not args.onefile:
        packed = archive(args.dist)
        sys.stdout.write(f"archive: {packed} ({packed.stat().st_size / 1e6:.1f} MB)\n")
    sys.stdout.write(f"executable: {exe}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
