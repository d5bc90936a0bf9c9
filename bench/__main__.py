"""``python -m bench [--quick] [--scale=F] [NAME ...]``: run the benchmarks, one process each.

Every ``bench/bench_*.py`` module runs in name order (or only those NAMEs, e.g.
``sync store``); each gets ``--quick`` and any other option given (``sync
--memory-only``), and modules that declare
``SCALABLE = True`` get ``--scale=F`` (a fraction of issue 10's full size). A
module's ``main`` takes the argument list, or reads ``sys.argv`` itself
(argparse): both are served. Each
runs in its own process so one module's memory or crash cannot skew or stop
the next; the runner ends with how long each took and exits 1 if any failed.
The tables also go to ``var/bench/latest.md`` (Markdown, for docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import RESULTS, child_env, console, machine, show

HERE = Path(__file__).resolve().parent


def modules() -> list[str]:
    """Return the benchmark module names (``bench_sync`` ...), in order."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def run_one(name: str, argv: list[str]) -> None:
    """Import ``bench.<name>`` and call its ``main`` the way it expects."""
    module = importlib.import_module(f"bench.{name}")
    entry = module.main
    if inspect.signature(entry).parameters:
        entry(argv)
    else:
        sys.argv = [str(HERE / f"{name}.py"), *argv]
        entry()


def main(argv: list[str]) -> int:
    """Run the chosen benchmarks; return the exit code."""
    if argv[:1] == ["--one"]:
        run_one(argv[1], argv[2:])
        return 0
    scaled = [a for a in argv if a.startswith("--scale=")]
    # --quick and a module's own options (bench sync --memory-only) go to every module run
    passed = [a for a in argv if a.startswith("-") and a not in scaled]
    wanted = [a.removeprefix("bench_") for a in argv if not a.startswith("-")]
    chosen = [m for m in modules() if not wanted or m.removeprefix("bench_") in wanted]
    unknown = set(wanted) - {m.removeprefix("bench_") for m in modules()}
    if unknown:
        console.print(f"no benchmark named {', '.join(sorted(unknown))}; have {modules()}")
        return 2
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(f"# pmsync benchmarks {' '.join(passed)}\n", encoding="utf-8")
    info = machine()
    show(
        "Machine",
        ["what", "value"],
        [[k, v] for k, v in info.items()] + [["load average", _load()]],
    )
    timings: list[list[str]] = []
    failed = False
    started = time.perf_counter()
    for name in chosen:
        began = time.perf_counter()
        extra = scaled if _scalable(name) else []
        code = subprocess.call(
            [sys.executable, "-m", "bench", "--one", name, *passed, *extra],
            cwd=HERE.parent,
            env=child_env(),
        )
        took = time.perf_counter() - began
        failed |= code != 0
        timings.append([name, f"{took:,.0f}", "ok" if code == 0 else f"failed (exit {code})"])
    timings.append(["all", f"{time.perf_counter() - started:,.0f}", "" if not failed else "!"])
    show("Benchmarks run", ["module", "seconds", "result"], timings, f"load average now: {_load()}")
    console.print(f"tables in Markdown: {RESULTS}")
    return 1 if failed else 0


def _scalable(name: str) -> bool:
    """Tell whether module ``name`` takes ``--scale=F`` (it says so with ``SCALABLE``)."""
    return "\nSCALABLE = True" in (HERE / f"{name}.py").read_text(encoding="utf-8")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
