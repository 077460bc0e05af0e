"""Remote benchmarks: `mlog push`/`pull` beside `dvc push`/`pull`, same files, same remotes.

One artifact of 1 GiB and one directory of 10,000 small files, to a local-folder remote and
to a local S3 server (moto, started here on 127.0.0.1), timed as the CLI a user runs, in one
sitting, with the load average printed beside every figure. DVC comes from a throwaway venv:

    python3 -m venv /tmp/dvc-bench && /tmp/dvc-bench/bin/pip install dvc dvc-s3
    python benchmarks/bench_remote.py --dvc /tmp/dvc-bench/bin/dvc [--quick] [--no-s3]

``--quick`` shrinks the data (64 MiB, 1,000 files). Pulls start with no local copy: the
workspace files are deleted, and DVC's cache too (mlog keeps no second copy).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MiB = 1 << 20
S3_OPTIONS = "remote_options:\n  config_kwargs: {read_timeout: 900}\n"
BIN = Path(sys.executable).parent


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{output}")
    return took


def make_big(repo: Path, big_mib: int) -> None:
    chunk = os.urandom(MiB)
    with open(repo / "big.bin", "wb") as fh:
        for i in range(big_mib):
            fh.write(chunk[: MiB - 8] + i.to_bytes(8, "little"))


def make_small(repo: Path, small: int) -> None:
    (repo / "small").mkdir()
    for i in range(small):
        (repo / "small" / f"f{i:05d}.txt").write_bytes(os.urandom(512) + str(i).encode())


def writing(call: str) -> list[str]:
    """A training command that writes its artifact: ``mlog run`` credits a run only with the
    outputs it wrote (one left from before is recorded as not written by the run)."""
    here = str(Path(__file__).resolve().parent)
    code = f"import sys, pathlib; sys.path.insert(0, {here!r}); import bench_remote as b; b.{call}"
    return [sys.executable, "-c", code]


def setup(root: Path, dvc: str, big_mib: int, small: int, env: dict[str, str]) -> Path:
    repo = root / "repo"
    repo.mkdir(parents=True)
    for args in (["git", "init", "-q", "-b", "main"], [str(BIN / "mlog"), "init"],
                 [dvc, "init", "-q"], [dvc, "config", "core.autostage", "false"]):  # fmt: skip
        sh(args, repo, env)
    (repo / ".gitignore").write_text("/big.bin\n/small\n")
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "setup"], repo, env)
    outputs = (("big.bin", f"make_big(pathlib.Path('.'), {big_mib})"),
               ("small", f"make_small(pathlib.Path('.'), {small})"))  # fmt: skip
    for number, (artifact, call) in enumerate(outputs, 1):  # v1 and v2
        sh([str(BIN / "mlog"), "run", "-a", artifact, "--", *writing(call)], repo, env)
        show = [str(BIN / "mlog"), "show", f"v{number}", "--json"]
        shown = subprocess.run(show, cwd=repo, env=env, capture_output=True, text=True).stdout
        if not json.loads(shown).get("artifacts"):  # else every mlog figure would time nothing
            raise SystemExit(f"run v{number} recorded no artifact {artifact}: {shown[-2000:]}")
    sh([dvc, "add", "-q", "big.bin", "small"], repo, env)  # DVC tracks them too
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "runs and data"], repo, env)
    return repo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    raise SystemExit("moto server did not start")


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bench", aws_secret_access_key="bench",
    )  # fmt: skip
    client.create_bucket(Bucket=name)
    client.close()


def measure(label: str, fn: Callable[[], float]) -> float:
    before = load()
    took = fn()
    print(f"  {label:<44} {took:8.2f} s   load before {before}", flush=True)
    return took


def remove(repo: Path, name: str) -> None:
    path = repo / name
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def compare(repo: Path, dvc: str, remote_name: str, mlog_env: dict[str, str]) -> None:
    mlog = str(BIN / "mlog")
    big = (repo / "big.bin").stat().st_size // MiB
    small = len(list((repo / "small").iterdir()))
    cases = ((f"one {big} MiB file", "big.bin", "v1"), (f"{small:,} small files", "small", "v2"))
    for what, name, alias in cases:
        print(f"{what} -> {remote_name}: push")
        dvc_push = [dvc, "push", "-q", "-r", remote_name, f"{name}.dvc"]
        mlog_push = [mlog, "push", alias]
        measure("mlog push", lambda c=mlog_push: sh(c, repo, mlog_env))
        measure("dvc push", lambda c=dvc_push: sh(c, repo, mlog_env))
        measure("mlog push again (nothing changed)", lambda c=mlog_push: sh(c, repo, mlog_env))
        measure("dvc push again (nothing changed)", lambda c=dvc_push: sh(c, repo, mlog_env))
    for what, name, alias in cases:
        print(f"{what} -> {remote_name}: pull")
        remove(repo, name)
        measure("mlog pull (no local copy)", lambda a=alias: sh([mlog, "pull", a], repo, mlog_env))
        remove(repo, name)
        shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
        dvc_pull = [dvc, "pull", "-q", "-r", remote_name, f"{name}.dvc"]
        measure("dvc pull (no local copy, no cache)", lambda c=dvc_pull: sh(c, repo, mlog_env))
    in_process_repush(repo, mlog_env)


def in_process_repush(repo: Path, env: dict[str, str]) -> None:
    """The re-push of the small files without process start-up and imports (warm)."""
    code = (
        "import time, pathlib; from mlog.api import remote; "
        "remote.push(cwd=pathlib.Path('.'), targets=['v2']); t = time.perf_counter(); "
        "remote.push(cwd=pathlib.Path('.'), targets=['v2']); print(time.perf_counter() - t)"
    )
    before = load()
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    took = float(done.stdout.strip())
    label = "mlog re-push of the small files, in process"
    print(f"  {label:<44} {took:8.3f} s   load before {before}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dvc", default=shutil.which("dvc") or "dvc", help="the dvc executable")
    parser.add_argument("--quick", action="store_true", help="64 MiB and 1,000 files")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto) remote")
    parser.add_argument("--no-folder", action="store_true", help="skip the folder remote")
    opts = parser.parse_args()
    big_mib, small = (64, 1000) if opts.quick else (1024, 10_000)
    version = subprocess.run([opts.dvc, "--version"], capture_output=True, text=True).stdout
    print(f"mlog vs DVC {version.strip()}; python {sys.version.split()[0]}; {os.cpu_count()} cores")
    print(f"data: {big_mib} MiB file, {small} small files (~0.5 KiB); load at start {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-remote-", dir="/tmp") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOG_"))}
        env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                   GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com")  # fmt: skip
        if not opts.no_folder:
            repo = setup(root / "folder", opts.dvc, big_mib, small, env)
            sh([opts.dvc, "remote", "add", "folder", str(root / "dvc-remote")], repo, env)
            compare(repo, opts.dvc, "folder", {**env, "MLOG_REMOTE": str(root / "mlog-remote")})
        if opts.no_s3:
            return
        # A repository of its own: after the folder remote's round, `dvc pull` from S3 in the
        # same repository found its objects missing there (DVC 3.67.1), with nothing said
        repo = setup(root / "s3", opts.dvc, big_mib, small, env)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        server = start_moto(port, root / "moto.log")
        try:
            make_bucket(endpoint, "bench")
            sh([opts.dvc, "remote", "add", "s3", "s3://bench/dvc"], repo, env)
            sh([opts.dvc, "remote", "modify", "s3", "endpointurl", endpoint], repo, env)
            # moto assembles a 1 GiB multipart upload in memory, slower than botocore's
            # default 60 s read timeout on a loaded machine: both tools get the same patience.
            sh([opts.dvc, "remote", "modify", "s3", "read_timeout", "900"], repo, env)
            config = repo / ".mlog" / "config.yaml"
            config.write_text(config.read_text() + S3_OPTIONS)
            s3_env = {**env, "MLOG_REMOTE": "s3://bench/mlog", "AWS_ENDPOINT_URL": endpoint}
            compare(repo, opts.dvc, "s3", s3_env)
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(f"load at end {load()}")


if __name__ == "__main__":
    main()
