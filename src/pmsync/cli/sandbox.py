"""``pmsync sandbox``: serve the imitation of Jira, GitHub and Google Calendar.

``serve`` is how a newcomer tries pmsync without any account (``--config-out``
writes a config pointing at it) and how scripts and CI drive a sandbox in
another process: ``--json`` prints one line with every URL and credential
before serving, so a caller reads one line and starts working. ``generate``
writes a scenario file to serve later or to read.
"""

from __future__ import annotations

import gc
import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from pmsync.cli._common import console, fail

sandbox_app = typer.Typer(help="The imitation of Jira, GitHub and Google Calendar.")


@sandbox_app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option(help="Scenario file to write (.json or .yaml).")],
    projects: Annotated[int, typer.Option(min=1, help="Number of projects.")] = 3,
    items: Annotated[int, typer.Option(min=1, help="Jira issues in all.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same file.")] = 1,
) -> None:
    """Write a realistic scenario; the same seed always gives the same file."""
    from pmsync.sandbox.generate import main_generate

    try:
        summary = main_generate(projects, items, seed, out)
    except ValueError as err:
        fail(f"error: {err}")
    except OSError as err:
        fail(f"error: cannot write {out}: {err}")
    typer.echo(json.dumps({"scenario": str(out), **summary}))


def _scenario(path: Path | None, projects: int, items: int, seed: int) -> Any:
    from pydantic import ValidationError

    from pmsync.sandbox.generate import generate
    from pmsync.sandbox.scenario import load_scenario

    if path is None:
        try:
            return generate(projects=projects, items=items, seed=seed)
        except ValueError as err:
            fail(f"error: {err}")
    try:
        return load_scenario(path)
    except ValidationError as err:
        lines = [
            f"{path}: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in err.errors()
        ]
        fail("\n".join(lines))
    except (OSError, ValueError) as err:
        fail(f"error: scenario {path}: {err}")


def _print_human(endpoints: dict[str, Any]) -> None:
    for name, info in endpoints.items():
        shown = json.dumps(info, ensure_ascii=False) if isinstance(info, dict | list) else info
        console.print(f"[bold]{name}[/bold]: {shown}", highlight=False, markup=True)
    if "ca_bundle" in endpoints:
        console.print(
            f"HTTPS with a throwaway CA: point clients at it, e.g. "
            f"REQUESTS_CA_BUNDLE={endpoints['ca_bundle']}",
            style="dim",
            highlight=False,
            markup=False,
        )
    console.print("serving; Ctrl-C stops", style="dim")


@sandbox_app.command("serve")
def serve_cmd(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file; default: a generated one.")
    ] = None,
    port: Annotated[
        int,
        typer.Option(
            min=0, max=65533, help="First port (Jira; GitHub +1, Calendar +2); 0 picks free ports."
        ),
    ] = 0,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Fault spec, e.g. rate=0.1,kinds=429+500+shift,seed=7 (docs/sandbox.md)."
        ),
    ] = None,
    tls: Annotated[
        bool, typer.Option(help="Serve HTTPS with a throwaway CA (its bundle path is printed).")
    ] = False,
    days_per_minute: Annotated[
        float, typer.Option(min=0.0, help="Simulated days that pass per wall-clock minute.")
    ] = 0.0,
    jira_flavour: Annotated[str, typer.Option(help="cloud or datacenter.")] = "cloud",
    github_enterprise: Annotated[
        bool, typer.Option(help="Serve GitHub as GitHub Enterprise Server does, under /api/v3.")
    ] = False,
    config_out: Annotated[
        Path | None, typer.Option(help="Also write a config directory pointing at the sandbox.")
    ] = None,
    secrets: Annotated[
        str,
        typer.Option(help="With --config-out: 'file' (secrets/ files) or 'env' (${VARIABLES})."),
    ] = "file",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print endpoints as one JSON line.")
    ] = False,
    projects: Annotated[int, typer.Option(min=1, help="Projects of the generated scenario.")] = 3,
    items: Annotated[int, typer.Option(min=1, help="Jira issues of the generated scenario.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the generated scenario.")] = 7,
) -> None:
    """Serve the sandbox until stopped, printing base URLs and credentials."""
    from pmsync.sandbox.app import Sandbox
    from pmsync.sandbox.server import FaultPlan

    if jira_flavour not in ("cloud", "datacenter"):
        fail("error: --jira-flavour must be cloud or datacenter")
    if secrets not in ("file", "env"):
        fail("error: --secrets must be file or env")
    try:
        plan = FaultPlan.parse(faults)
    except ValueError as err:
        fail(f"error: --faults: {err}")
    world = _scenario(scenario, projects, items, seed)
    tls_dir = (config_out or Path("var/sandbox")) / "tls" if tls else None
    box = Sandbox(
        world,
        faults=plan,
        days_per_minute=days_per_minute,
        jira_flavour=jira_flavour,  # type: ignore[arg-type]
        github_enterprise=github_enterprise,
        tls_dir=tls_dir,
    )
    ports = {} if port == 0 else {"jira": port, "github": port + 1, "calendar": port + 2}
    # Listen for stop signals before anything is printed: a caller may signal as
    # soon as it has read the endpoints.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        box.start(ports)
    except OSError as err:
        box.stop()
        fail(f"error: cannot listen on 127.0.0.1 port {port}..{port + 2}: {err.strerror or err}")
    box.warm()  # a big world's views take seconds: build them before anyone waits
    # From here the scenario is read, never freed: keep the collector from rescanning it.
    gc.freeze()
    endpoints = box.endpoints()
    if config_out is not None:
        from pmsync.sandbox.configout import sandbox_secret_env, write_config

        write_config(world, endpoints, config_out, secrets=secrets)
        endpoints["config"] = str(config_out)
        if secrets == "env":
            endpoints["environment"] = sandbox_secret_env(endpoints)
    if as_json:
        typer.echo(json.dumps(endpoints, ensure_ascii=False))
    else:
        _print_human(endpoints)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        box.stop()
