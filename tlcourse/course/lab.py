"""JupyterLab on the course: what `make lab` starts, and what the browser tests drive.

    python -m tlcourse.course.lab [extra jupyter-lab options]

starts JupyterLab from this environment with the course directory as its root
(and as its working directory, where nbgrader's extensions read
``nbgrader_config.py``), opening on the landing notebook ``START_HERE.ipynb``.
nbgrader 0.9 enables its server and lab extensions (Validate button, Nbgrader
menu, Formgrader) when it is installed; nothing else is configured.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The kernel `make setup` registers inside the venv; every notebook names it.
COURSE_KERNEL = "tlcourse"
COURSE_KERNEL_DISPLAY = "Transfer learning (PyTorch + TF)"
# A markdown-only notebook at the course root: rendered links open the release
# notebooks inside JupyterLab.  Not an assignment (those live in source/) and not
# executed by nbval (pytest collects tests/ and notebooks/ only).
LANDING = "START_HERE.ipynb"


def command(root: Path = ROOT, *, port: int | None = None, token: str | None = None,
            open_browser: bool = True, extra: list[str] | tuple = ()) -> list[str]:
    """The ``jupyter lab`` command line for the course at ``root`` (run it with cwd=root)."""
    args = [sys.executable, "-m", "jupyterlab",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.default_url=/lab/tree/{LANDING}"]
    if port is not None:
        args += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                 "--ServerApp.port_retries=0"]
    if token is not None:
        args.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--ServerApp.allow_root=True")   # containers and CI machines run as root
    return args + list(extra)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    os.chdir(ROOT)
    # the kernels and the nbgrader commands are this environment's
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    args = command(ROOT, extra=argv)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
