"""`dashvault demo`: the whole product against the sandbox on loopback, with nothing configured.

Registered on the CLI through the ``dashvault.commands`` entry point, so that the `backup` package
never imports the sandbox.
"""

from __future__ import annotations

import json
import secrets
import shlex
import tempfile
import time
from pathlib import Path

import typer

from dashvault.console import out as console
from dashvault.console import styled
from sandbox.arduino import ArduinoSandbox
from sandbox.generate import populate, populate_arduino
from sandbox.grafana import GrafanaSandbox
from storage.git import GitStore


class Demo:
    """Runs dashvault commands in-process against a config in a temporary directory."""

    def __init__(self, app: typer.Typer, workdir: Path) -> None:
        self.command = typer.main.get_command(app)
        self.workdir = workdir
        self.config = workdir / "dashvault.toml"
        self.failures = 0

    def step(self, title: str) -> None:
        console.print(styled(f"\n== {title}", "bold cyan"))

    def run(self, *args: str, expect: int = 0) -> None:
        console.print(styled(f"$ dashvault {shlex.join(args)}", "dim"))
        try:
            self.command.main(["--config", str(self.config), *args], standalone_mode=False)
            code = 0
        except typer.Exit as exc:  # typer's own click (vendored since typer 0.20) raises this
            code = exc.exit_code
        if code != expect:
            self.failures += 1
            console.print(styled(f"unexpected exit code {code} (expected {expect})", "red"))


def run_demo(app: typer.Typer, dashboards: int = 40) -> int:
    """Back up a sandbox Grafana, change it, back up again, audit, delete and inspect; 0 if all went right."""
    started = time.monotonic()
    token = secrets.token_urlsafe(24)
    client_secret = secrets.token_urlsafe(24)
    with (
        tempfile.TemporaryDirectory(prefix="dashvault-demo-") as tmp,
        GrafanaSandbox(token=token) as grafana,
        ArduinoSandbox(client_id="dashvault-demo", client_secret=client_secret) as arduino,
    ):
        workdir = Path(tmp)
        demo = Demo(app, workdir)
        population = populate(grafana, dashboards=dashboards, depth=3, seed=42)
        things = populate_arduino(arduino, dashboards=6, spaces=("",), seed=42)
        (workdir / "grafana.token").write_text(token + "\n")
        (workdir / "arduino.secret").write_text(client_secret + "\n")
        demo.config.write_text(
            "[storage]\n"
            'backend = "git"\n'
            'path = "backups"\n\n'
            "[[sources]]\n"
            'name = "grafana-demo"\n'
            'type = "grafana"\n'
            f"url = {json.dumps(grafana.url)}\n"
            'token_file = "grafana.token"\n'
            'api = "auto"\n\n'
            "[[sources]]\n"
            'name = "arduino-demo"\n'
            'type = "arduino"\n'
            'client_id = "dashvault-demo"\n'
            'client_secret_file = "arduino.secret"\n'
            f"base_url = {json.dumps(arduino.url)}\n"
            "rate_limit = 200.0\n"
        )
        demo.step(
            f"A sandbox Grafana at {grafana.url} with {len(population.dashboards)} dashboards in "
            f"{len(population.folders)} nested folders, and a sandbox Arduino IoT Cloud at {arduino.url} "
            f"with {len(things.dashboards[''])} dashboards"
        )
        demo.run("check")

        demo.step("First backup into a new git repository")
        demo.run("backup")

        # The one to delete has an ACL of its own, so the restore shows permissions coming back too.
        deleted = next(
            (u for u in population.dashboards if u in population.with_permissions), population.dashboards[1]
        )
        edited = next(u for u in population.dashboards if u != deleted)
        demo.step(f"Someone edits dashboard {edited} and adds a dashboard")
        grafana.update_dashboard(edited, {"description": "edited during the demo"})
        grafana.add_dashboard({"title": "Demo: a new dashboard", "panels": []})
        demo.run("backup")

        demo.step("What happened, and what changed")
        demo.run("snapshots")
        demo.run("log", edited)
        previous, latest = (s.id[:12] for s in GitStore(workdir / "backups").snapshots()[1::-1])
        demo.run("diff", previous, latest)

        demo.step(f"Someone deletes dashboard {deleted}: the next backup records it")
        grafana.delete_dashboard(deleted)
        demo.run("backup")
        demo.step("The deleted dashboard is still in every earlier snapshot")
        demo.run("log", deleted)

        demo.step(f"Restore {deleted} from the snapshot before the deletion: same uid, folder, permissions")
        before_delete = GitStore(workdir / "backups").snapshots()[1].id[:12]
        demo.run("restore", "--snapshot", before_delete, "--key", deleted, "--dry-run")
        demo.run("restore", "--snapshot", before_delete, "--key", deleted)
        back = grafana.get_dashboard(deleted)
        if back is None:
            demo.failures += 1
            console.print(styled(f"{deleted} was not restored", "red"))
        else:
            console.print(
                f"{deleted} is back: {back.get('title')!r} in folder {grafana.dashboard_folder(deleted)!r}"
            )
        demo.step("A backup now records it again")
        demo.run("backup")

        gone = things.dashboards[""][0]
        demo.step(f"Someone deletes Arduino dashboard {gone}: restore gives it a new id, with its shares")
        arduino.delete_dashboard(gone)
        demo.run("restore", "--source", "arduino-demo")
        demo.run("restore", "--source", "arduino-demo", "--dry-run")

        elapsed = time.monotonic() - started
        if demo.failures:
            failed = f"\ndemo finished with {demo.failures} unexpected results in {elapsed:.1f}s"
            console.print(styled(failed, "red"))
            return 1
        console.print(
            styled(f"\ndemo finished in {elapsed:.1f}s", "green"),
            "; the sandbox is stopped, nothing is left running",
            sep="",
        )
        return 0


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the dashvault CLI."""

    @app.command()
    def demo(
        dashboards: int = typer.Option(40, "--dashboards", min=1, max=2000, help="How many to generate."),
    ) -> None:
        """Run dashvault end to end against sandbox servers on loopback; nothing to configure."""
        raise typer.Exit(run_demo(app, dashboards))
