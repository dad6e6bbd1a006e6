"""Backup and restore throughput, memory and storage growth of dashvault against the sandbox Grafana.

Run: ``python benchmarks/run.py [--dashboards N] [--latency-ms L] [--concurrency C] [--quick] [--api A]``.

The sandbox Grafana runs in a child process (populated with N dashboards, their sizes drawn from the
shared corpus ``../shared/corpus/grafana/current/`` when present), the S3 store is moto's server in this
process, and every backup or restore is a ``python -m dashvault`` child whose wall time and peak RSS are
measured, so the client's numbers are not mixed with the server's. Prints one table of runs and one of
storage growth (the real revision history in ``../shared/corpus/grafana/history/``, replayed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CORPUS = ROOT.parent / "shared" / "corpus" / "grafana"
TOKEN = "benchmark-token"  # noqa: S105 - the sandbox's fixed test credential
S3_KEY_ID, S3_SECRET = "benchmark-key", "benchmark-secret"
APIS = ("legacy", "apis")
STORES = ("git", "s3")
PAGE_SIZE = 500


# -- the sandbox, in a process of its own ------------------------------------------------------------


def serve(dashboards: int, latency_ms: float, corpus: str) -> int:
    """Child process: a populated sandbox Grafana answering commands on stdin (one per line)."""
    import resource

    from sandbox.generate import populate
    from sandbox.grafana import GrafanaSandbox

    sandbox = GrafanaSandbox(token=TOKEN, seed=1, log_bodies=False)
    population = populate(sandbox, dashboards=dashboards, corpus_dir=Path(corpus) if corpus else None)
    sandbox.latency = latency_ms / 1000
    sandbox.start()
    depth: dict[str, int] = {}
    for uid, parent in population.folder_parents.items():  # parents come first
        depth[uid] = depth[parent] + 1 if parent else 0
    facts = {
        "url": sandbox.url,
        "levels": [
            sum(1 for d in depth.values() if d == level)
            for level in range(max(depth.values(), default=-1) + 1)
        ],
        "folders": len(population.folders),
        "dashboards": len(population.dashboards),
        "with_permissions": len(population.with_permissions),
    }
    print(json.dumps(facts), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "requests":  # requests since the last time asked, and how many were list pages
            logged = sandbox.logged_requests()
            sandbox.clear_requests()
            pages = sum(1 for r in logged if r.method == "GET" and is_list_page(r.path))
            answer: Any = {"total": len(logged), "pages": pages}
        elif command == "wipe":
            sandbox.wipe()
            answer = "ok"
        elif command == "cpu":  # CPU seconds the server has used so far
            usage = resource.getrusage(resource.RUSAGE_SELF)
            answer = usage.ru_utime + usage.ru_stime
        elif command == "quit":
            break
        else:
            answer = f"unknown command {command!r}"
        print(json.dumps(answer), flush=True)
    sandbox.stop()
    return 0


def is_list_page(path: str) -> bool:
    """A legacy search page or an /apis dashboard list page."""
    return path == "/api/search" or (path.startswith("/apis/") and path.endswith("/dashboards"))


class SandboxProcess:
    """The sandbox child: its URL, what it holds, and a line protocol to steer it."""

    def __init__(self, dashboards: int, latency_ms: float, corpus: Path | None) -> None:
        cmd = [sys.executable, __file__, "--serve", "--dashboards", str(dashboards)]
        cmd += ["--latency-ms", str(latency_ms), "--corpus", str(corpus or "")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process exited before serving")
        facts = json.loads(line)
        self.url: str = facts["url"]
        self.folders: int = facts["folders"]
        self.dashboards: int = facts["dashboards"]
        self.with_permissions: int = facts["with_permissions"]
        self.levels: list[int] = facts["levels"]  # folders per depth, from the root down

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


# -- S3: moto's server, as the tests use it ------------------------------------------------------


class Moto:
    """moto's S3 server on a free loopback port, with a bucket per store."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        os.environ.update(
            AWS_ACCESS_KEY_ID=S3_KEY_ID,
            AWS_SECRET_ACCESS_KEY=S3_SECRET,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        import boto3

        self.client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")

    def bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name

    def size(self, bucket: str) -> int:
        return sum(size for size, _ in self.listing(bucket).values())

    def listing(self, bucket: str) -> dict[str, tuple[int, str]]:
        """Every object of the bucket: key -> (size, ETag)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: (int(o["Size"]), o["ETag"]) for page in pages for o in page.get("Contents", [])}

    def stop(self) -> None:
        self.server.stop()


def git_size(path: Path) -> int:
    """Bytes under .git/objects (loose objects and packs)."""
    return sum(size for size, _ in git_listing(path).values())


def git_listing(path: Path) -> dict[str, tuple[int, str]]:
    """Every file under .git/objects (loose objects, packs, and any leftovers): path -> (size, "").
    Objects are named by their hash and never rewritten, so a name and a size say what is there."""
    objects = path / ".git" / "objects"
    found = {}
    for folder, _, files in os.walk(objects):
        for f in files:
            full = os.path.join(folder, f)
            found[os.path.relpath(full, objects)] = (os.path.getsize(full), "")
    return found


def store_change(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> str:
    """What a run did to the store, exactly: objects added, rewritten and removed."""
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    rewritten = sum(1 for k in after.keys() & before.keys() if after[k] != before[k])
    if not (added or removed or rewritten):
        return "store unchanged"
    return f"store: {added} objects added, {rewritten} rewritten, {removed} removed"


# -- runs ----------------------------------------------------------------------------------------


def toml(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def write_config(path: Path, storage: dict[str, object], source: dict[str, object]) -> Path:
    lines = ["[storage]", *(f"{k} = {toml(v)}" for k, v in storage.items()), "", "[[sources]]"]
    lines += [f"{k} = {toml(v)}" for k, v in source.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Child:
    """A finished `python -m dashvault` child process."""

    wall: float
    peak_rss: int  # bytes
    code: int
    stdout: str
    stderr: str


# `python -m dashvault` that reports its peak RSS on the way out. The child's own VmHWM, not ru_maxrss:
# Linux carries the forking process's high-water mark (this one, with moto's objects) into the
# child's ru_maxrss across exec.
CHILD = """
import atexit, runpy, sys
def peak():
    with open("/proc/self/status", encoding="ascii") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write(f"\\n{PEAK}{kb}\\n")
atexit.register(peak)
sys.argv[0] = "dashvault"
runpy.run_module("dashvault", run_name="__main__", alter_sys=True)
"""
PEAK = "benchmark peak RSS kB: "


def run_child(config: Path, *args: str) -> Child:
    """Run one dashvault command in a child process, with its wall time and peak RSS."""
    started = time.perf_counter()
    code = CHILD.replace("{PEAK}", PEAK)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            [sys.executable, "-c", code, "--config", str(config), *args],
            stdout=out,
            stderr=err,
            cwd=ROOT,
            check=False,
        )
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode()
        peaks = [line[len(PEAK) :] for line in stderr.splitlines() if line.startswith(PEAK)]
        peak = int(peaks[-1]) * 1024 if peaks else 0
        return Child(wall, peak, proc.returncode, out.read().decode(), stderr)


@dataclass
class Row:
    api: str
    store: str
    run: str
    wall: float
    requests: int
    written: int
    peak_rss: int
    bound: float
    note: str = ""
    server_cpu: float = 0.0
    store_change: str = ""

    @property
    def ratio(self) -> float:
        return self.wall / self.bound if self.bound else math.nan


@dataclass
class Bench:
    """One benchmark session: the sandbox, moto, a scratch directory and the rows measured."""

    sandbox: SandboxProcess
    moto: Moto
    work: Path
    latency: float
    concurrency: int
    rows: list[Row] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.sandbox.dashboards

    @property
    def f(self) -> int:
        return self.sandbox.folders

    def bound(self, api: str, concurrency: int, pages: int) -> float:
        """Latency lower bound of a backup (the formulas are printed under the table)."""
        if api == "legacy":
            requests = 2 * (self.n + self.f) + pages
            return max(pages, requests / concurrency) * self.latency
        return pages * self.latency

    def acl_bound(self, concurrency: int, pages: int) -> float:
        """The /apis bound counting the ACL read each dashboard and folder still needs."""
        return max(pages, (self.n + 2 * self.f + pages) / concurrency) * self.latency

    def source(self, api: str, concurrency: int) -> dict[str, object]:
        return {
            "name": "grafana",
            "type": "grafana",
            "url": self.sandbox.url,
            "token": TOKEN,
            "api": api,
            "concurrency": concurrency,
            "page_size": PAGE_SIZE,
            "retries": 2,
        }

    def store(self, api: str, store: str, tag: str = "") -> tuple[dict[str, object], Any]:
        """`[storage]` keys of a fresh store, and a function listing its objects with their sizes."""
        name = f"{api}-{store}{tag}"
        if store == "git":
            path = self.work / name
            return {"path": str(path)}, lambda: git_listing(path)
        bucket = self.moto.bucket(f"bench-{name}")
        storage: dict[str, object] = {
            "backend": "s3",
            "bucket": bucket,
            "endpoint_url": self.moto.url,
            "region": "us-east-1",
            "access_key_id": S3_KEY_ID,
            "secret_access_key": S3_SECRET,
        }
        return storage, lambda: self.moto.listing(bucket)

    def measure(self, config: Path, listing: Any, args: list[str], row: Row) -> tuple[Child, int]:
        """Run a child; fills the row's wall time, requests, bytes written, what it did to the store and
        peak RSS; returns the pages."""
        before = listing()
        self.sandbox.ask("requests")
        cpu = self.sandbox.ask("cpu")
        child = run_child(config, *args)
        counts = self.sandbox.ask("requests")
        row.requests = int(counts["total"])
        row.server_cpu = float(self.sandbox.ask("cpu")) - float(cpu)
        after = listing()
        row.written = sum(n for n, _ in after.values()) - sum(n for n, _ in before.values())
        row.store_change = store_change(before, after)
        row.wall, row.peak_rss = child.wall, child.peak_rss
        if child.code != 0:
            raise RuntimeError(f"{' '.join(args)} exited {child.code}: {child.stderr.strip()[-2000:]}")
        self.rows.append(row)
        print(f"  {row.api:6} {row.store:3} {row.run:28} {row.wall:7.2f} s", file=sys.stderr, flush=True)
        return child, int(counts["pages"])

    def backup(self, api: str, store: str, config: Path, listing: Any, run: str, concurrency: int) -> Child:
        row = Row(api, store, run, 0, 0, 0, 0, 0)
        child, pages = self.measure(config, listing, ["backup", "--json"], row)
        row.bound = self.bound(api, concurrency, pages)
        report = json.loads(child.stdout)
        notes = [row.store_change, f"{pages} list pages"]
        if api == "apis":
            with_acls = self.acl_bound(concurrency, pages)
            notes.append(f"with the ACL GETs: bound {with_acls:.2f} s, ratio {row.wall / with_acls:.2f}")
        if run.startswith("no-change") and report["snapshot"] is not None:
            notes.append("MADE A SNAPSHOT")
        row.note = "; ".join(notes)
        return child

    def backups(self, api: str, store: str) -> Path:
        storage, listing = self.store(api, store)
        config = write_config(self.work / f"{api}-{store}.toml", storage, self.source(api, self.concurrency))
        self.backup(api, store, config, listing, "full backup", self.concurrency)
        self.backup(api, store, config, listing, "no-change backup", self.concurrency)
        return config

    def serial(self, api: str) -> None:
        storage, listing = self.store(api, "git", "-serial")
        config = write_config(self.work / f"{api}-serial.toml", storage, self.source(api, 1))
        self.backup(api, "git", config, listing, "full backup, concurrency 1", 1)

    def restore(self, api: str, config: Path, store: str) -> None:
        self.sandbox.ask("wipe")
        row = Row(api, store, "restore all (after a wipe)", 0, 0, 0, 0, 0)
        child, pages = self.measure(config, dict, ["restore", "--json"], row)
        # Writes after a wipe: folders level by level, then dashboards, then the ACLs of both.
        c = self.concurrency
        rounds = sum(math.ceil(n / c) for n in self.sandbox.levels)
        rounds += math.ceil(self.n / c) + math.ceil(self.sandbox.with_permissions / c)
        row.bound = (pages + rounds) * self.latency
        counts = json.loads(child.stdout)["plans"][0]["counts"]
        row.note = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f"; {pages} list pages"


# -- storage growth ------------------------------------------------------------------------------


@dataclass
class Growth:
    revisions: int
    raw: int
    git: int
    s3: int


def storage_growth(moto: Moto, work: Path, limit: int | None) -> list[Growth]:
    """Replay the corpus history (revision i of every dashboard, then i + 1 ...), one backup each."""
    from backup.grafana import GrafanaCollector
    from backup.run import BackupRun
    from sandbox.grafana import GrafanaSandbox
    from sources.config import GrafanaSourceConfig
    from sources.grafana.client import GrafanaClient
    from storage.git import GitStore
    from storage.hashing import canonical, strip_volatile
    from storage.s3 import S3Store

    boards = sorted(p for p in (CORPUS / "history").iterdir() if p.is_dir())
    revisions = {b.name: sorted(b.glob("*.json")) for b in boards}
    steps: list[tuple[str, Path]] = []
    for i in range(max(len(r) for r in revisions.values())):
        steps += [(name, paths[i]) for name, paths in revisions.items() if i < len(paths)]
    if limit is not None:
        steps = steps[:limit]
    sandbox = GrafanaSandbox(token=TOKEN, seed=1, log_bodies=False).start()
    git_store = GitStore(work / "growth-git")
    s3_store = S3Store(moto.bucket("bench-growth"), endpoint_url=moto.url, region="us-east-1")
    config = GrafanaSourceConfig(name="grafana", type="grafana", url=sandbox.url, token=TOKEN, api="legacy")
    client = GrafanaClient(config)
    out: list[Growth] = []
    raw = 0
    try:
        for n, (name, path) in enumerate(steps, 1):
            model = json.loads(path.read_text())
            model = model.get("dashboard", model) if isinstance(model.get("dashboard"), dict) else model
            model = {k: v for k, v in model.items() if k not in ("id", "version")}
            model["uid"] = name
            client.save_dashboard(1, model, "", message=path.name, overwrite=True)
            raw += len(canonical(strip_volatile({"dashboard": model, "folderUid": ""})))
            for store in (git_store, s3_store):
                BackupRun(store, [GrafanaCollector(config)]).execute()
            out.append(Growth(n, raw, git_size(work / "growth-git"), moto.size("bench-growth")))
    finally:
        client.close()
        sandbox.stop()
    return out


def git_commit(work: Path, files: int) -> tuple[float, float, int]:
    """Seconds to stream `files` changed dashboards into a git snapshot, then to commit it; mean size."""
    import random

    from sandbox.generate import make_dashboard
    from storage.git import GitStore
    from storage.hashing import entry_for
    from storage.model import Changes, Item, Manifest, SourceStatus

    rng = random.Random(7)
    templates = [make_dashboard(rng, f"template {n}") for n in range(24)]
    writer = GitStore(work / "commit-git").begin()
    changes = Changes()
    size = 0
    started = time.perf_counter()
    for n in range(files):
        model = {**templates[n % len(templates)], "title": f"Board {n}", "uid": f"b{n}"}
        item = Item("grafana", "dashboard", f"1/b{n}", model["title"], {"dashboard": model, "folderUid": ""})
        entry, content = entry_for(item)
        writer.put(entry, content)
        changes.added.append(entry)
        size += entry.size
    streamed = time.perf_counter()
    manifest = Manifest(
        time=datetime.now(UTC), run="0badc0de", sources={"grafana": SourceStatus()}, entries=changes.added
    )
    writer.commit(manifest, changes)
    return streamed - started, time.perf_counter() - streamed, size // max(1, files)


# -- output --------------------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d')}"
    )


def print_rows(bench: Bench, args: argparse.Namespace, corpus: bool) -> None:
    size = "sizes from the shared corpus" if corpus else "generated dashboards (no shared corpus)"
    print(
        f"\n{bench.n:,} dashboards ({size}), {bench.f} folders, {bench.sandbox.with_permissions} own ACLs; "
        f"latency {args.latency_ms:g} ms; concurrency {bench.concurrency}; {machine()}\n"
    )
    columns = ("api", "store", "run", "wall s", "requests", "written MB", "peak RSS MB", "bound s", "ratio")
    print("| " + " | ".join((*columns, "server CPU s", "notes")) + " |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in bench.rows:
        print(
            f"| {r.api} | {r.store} | {r.run} | {r.wall:.2f} | {r.requests:,} | {mb(r.written)} | "
            f"{mb(r.peak_rss)} | {r.bound:.2f} | {r.ratio:.2f} | {r.server_cpu:.1f} | {r.note} |"
        )
    print(
        "\nN dashboards, F folders, L latency, c concurrency, pages = list pages the run asked for "
        "(legacy: search pages; apis: dashboard list pages, sized to about 1 MB each). Bounds: legacy = "
        "max(pages, 2·(N + F) + pages) / c)·L: a GET and an ACL GET per dashboard and folder; "
        "apis = pages·L, the target's bound, which leaves out the ACL GET every dashboard and folder "
        "still needs (Grafana has no bulk ACL read): with them, max(pages, (N + 2·F + pages) / c)·L "
        "(in the notes); restore = (pages + Σ over stages ⌈writes / c⌉)·L, stages being folders level "
        "by level, then dashboards, then ACLs. ratio = wall / bound. wall is the child process's, "
        "start-up included (about 1 s). written = growth of .git/objects or of the bucket; the notes say "
        "exactly how many of their objects (files, or keys) a backup added, rewrote or removed. server CPU = "
        "the sandbox process's CPU time during the run."
    )


def print_growth(rows: list[Growth]) -> None:
    print("\n| revisions replayed | canonical JSON MB | git store MB | s3 store MB |")
    print("|---:|---:|---:|---:|")
    marks = {1, 8, 25, 50, 100, 150, 200, 250, 300, len(rows)}
    for g in rows:
        if g.revisions in marks:
            print(f"| {g.revisions} | {mb(g.raw)} | {mb(g.git)} | {mb(g.s3)} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dashboards", type=int, default=None, help="default 10,000 (100 with --quick)")
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="a small run: every row, little data")
    parser.add_argument("--api", choices=APIS, action="append", help="only this API's rows (repeatable)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.dashboards if args.dashboards is not None else (100 if args.quick else 10_000)
    if args.serve:
        return serve(n, args.latency_ms, args.corpus)

    corpus = (CORPUS / "current").is_dir()
    work = Path(tempfile.mkdtemp(prefix="dashvault-bench-"))
    moto = Moto()
    started = time.perf_counter()
    print(f"populating the sandbox with {n:,} dashboards ...", file=sys.stderr, flush=True)
    sandbox = SandboxProcess(n, args.latency_ms, CORPUS / "current" if corpus else None)
    try:
        bench = Bench(sandbox, moto, work, args.latency_ms / 1000, args.concurrency)
        for api in args.api or APIS:
            configs = {store: bench.backups(api, store) for store in STORES}
            bench.serial(api)
            bench.restore(api, configs["git"], "git")
        print_rows(bench, args, corpus)
        files = 500 if args.quick else 10_000
        streamed, committed, mean = git_commit(work, files)
        print(
            f"\ngit commit of {files:,} changed files (generated dashboards, {mean / 1000:.1f} KB each "
            f"as canonical JSON): put {streamed:.2f} s, then commit {committed:.2f} s "
            "(fast-import finishing the pack, the commit, the work tree reset)"
        )
        if CORPUS.joinpath("history").is_dir():
            print_growth(storage_growth(moto, work, 24 if args.quick else None))
        else:
            print(f"\nstorage growth: skipped, the shared corpus is not present at {CORPUS}")
    finally:
        sandbox.close()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
