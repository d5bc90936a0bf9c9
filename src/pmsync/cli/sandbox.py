"""``pmsync sandbox``: serve the imitation of Jira, GitHub and Google Calendar."""

from __future__ import annotations

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

    summary = main_generate(projects, items, seed, out)
    typer.echo(json.dumps({"scenario": str(out), **summary}))


def _scenario(path: Path | None, projects: int, items: int, seed: int) -> Any:
    from pmsync.sandbox.generate import generate
    from pmsync.sandbox.scenario import load_scenario

    if path is None:
        return generate(projects=projects, items=items, seed=seed)
    try:
        return load_scenario(path)
    except (OSError, ValueError) as err:
        fail(f"error: scenario {path}: {err}")


@sandbox_app.command("serve")
def serve_cmd(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file; default: a generated one.")
    ] = None,
    port: Annotated[
        int, typer.Option(help="First port (Jira; GitHub +1, Calendar +2); 0 picks free ports.")
    ] = 0,
    faults: Annotated[
        str | None, typer.Option(help="Fault spec, e.g. rate=0.1,kinds=429+500,seed=7.")
    ] = None,
    tls: Annotated[bool, typer.Option(help="Serve HTTPS with a throwaway CA.")] = False,
    days_per_minute: Annotated[
        float, typer.Option(help="Simulated days that pass per wall-clock minute.")
    ] = 0.0,
    jira_flavour: Annotated[str, typer.Option(help="cloud or datacenter.")] = "cloud",
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
    projects: Annotated[int, typer.Option(help="Projects of the generated scenario.")] = 3,
    items: Annotated[int, typer.Option(help="Jira issues of the generated scenario.")] = 300,
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
        tls_dir=tls_dir,
    )
    ports = {} if port == 0 else {"jira": port, "github": port + 1, "calendar": port + 2}
    try:
        box.start(ports)
    except OSError as err:
        fail(f"error: cannot listen: {err}")
    endpoints = box.endpoints()
    if config_out is not None:
        from pmsync.sandbox.configout import sandbox_secret_env, write_config

        write_config(world, endpoints, config_out, secrets=secrets)
        endpoints["config"] = str(config_out)
        if secrets == "env":
            endpoints["environment"] = sandbox_secret_env(endpoints)
    if as_json:
        typer.echo(json.dumps(endpoints))
    else:
        for name, info in endpoints.items():
            console.print(f"[bold]{name}[/bold]: {json.dumps(info)}", highlight=False)
        console.print("serving; Ctrl-C stops", style="dim")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        box.stop()
