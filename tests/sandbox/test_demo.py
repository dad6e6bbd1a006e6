"""The README's first command: `dashvault demo` on a machine with nothing configured."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_dashvault


def processes_using(path: Path) -> list[str]:
    """Processes whose working directory or command line mention `path` (Linux /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = str((proc / "cwd").resolve())
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(path)) or str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline!r}")
    return found


def test_demo_runs_end_to_end_and_leaves_nothing_running(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"HOME": str(tmp_path), "TMPDIR": str(scratch), "DASHVAULT_CONFIG": str(tmp_path / "none.toml")}
    res = run_dashvault("demo", "--dashboards", "30", env=env, cwd=tmp_path)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    steps = (
        "First backup",
        "2 added, 1 changed, 0 deleted",  # a new dashboard with its permissions, and an edit
        "0 added, 0 changed, 2 deleted",  # a dashboard and its permissions
        "is back:",
        "2 added, 0 changed, 0 deleted",  # recorded again after the restore
        "demo finished",
    )
    for step in steps:
        assert step in res.stdout, step
    assert list(scratch.iterdir()) == []  # its temporary store is gone
    assert processes_using(tmp_path) == []
