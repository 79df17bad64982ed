"""python -m hardneg_ray --run DIR [--address ADDR] [options]

Runs every stage of a planned hardneg run folder as Ray tasks, stage after stage, then finalize:

  hardneg plan --run DIR --corpus-shards N --query-shards M ... --out train.parquet
  python -m hardneg_ray --run DIR                 # a local Ray instance
  python -m hardneg_ray --run DIR --address auto  # the cluster this node belongs to (KubeRay too)

Only the shards `hardneg status` does not list as done are submitted, so running it again on the
same folder resumes. Each shard's output goes to DIR/logs/<stage>/<i>-of-<n>.log; a shard that
fails past --max-retries stops the run with its log's tail and exit status 1.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("embed-corpus", "build-index", "mine-queries")


def default_binary():
    """HARDNEG_BIN, else the release build of the repository this package sits in, else PATH."""
    if os.environ.get("HARDNEG_BIN"):
        return os.environ["HARDNEG_BIN"]
    built = Path(__file__).resolve().parents[3] / "target" / "release" / "hardneg"
    if built.exists():
        return str(built)
    return shutil.which("hardneg") or "hardneg"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m hardneg_ray", description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, type=Path, help="the run folder `hardneg plan` wrote (shared filesystem)")
    ap.add_argument("--address", help="Ray cluster: `auto` or host:port (default: start a local instance)")
    ap.add_argument("--hardneg", default=default_binary(),
                    help="the hardneg binary, at this path on every node (default: $HARDNEG_BIN, the repo's build, PATH)")
    ap.add_argument("--cpus-per-task", type=float, default=1, help="CPUs Ray reserves per shard (default 1)")
    ap.add_argument("--threads", type=int, help="hardneg --threads per shard (default: --cpus-per-task)")
    ap.add_argument("--gpus-per-embed-task", type=float, default=0,
                    help="GPUs per embed-corpus shard; > 0 runs it with --device cuda on the GPU Ray assigns")
    ap.add_argument("--gpus-per-mine-task", type=float, default=0, help="GPUs per mine-queries shard (it embeds queries)")
    ap.add_argument("--max-retries", type=int, default=2, help="retries of a failed shard (default 2)")
    ap.add_argument("--no-finalize", action="store_true", help="stop after the stages")
    return ap.parse_args(argv)


def hardneg_status(binary, run):
    p = subprocess.run([binary, "status", "--run", str(run), "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"hardneg_ray: {p.stderr.strip() or p.stdout.strip()}")
    return json.loads(p.stdout)


def log_path(run, stage, index, count):
    return run / "logs" / stage / f"{index:05d}-of-{count:05d}.log"


def tail(path, lines=40):
    try:
        return "".join(Path(path).read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError as e:
        return f"(no log: {e})"


def run_logged(cmd, log):
    """Runs `cmd` with its output appended to `log`; raises on a non-zero exit (Ray then retries)."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "a") as f:
        f.write(f"--- {' '.join(cmd)}\n--- on {socket.gethostname()}, pid {os.getpid()}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        started = time.time()
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
        f.write(f"--- exit {code} after {time.time() - started:.1f}s\n")
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[1:3])} exited with {code}; log: {log}")
    return time.time() - started


class Progress:
    """Shards done / total for one stage: a bar on a terminal, a line per shard otherwise."""

    def __init__(self, stage, total, done):
        self.stage, self.total, self.done = stage, total, done
        self.tty = sys.stderr.isatty()
        self.show()

    def show(self, note=""):
        if self.tty:
            width = 30
            filled = width * self.done // max(self.total, 1)
            sys.stderr.write(f"\r{self.stage:>13} [{'=' * filled}{' ' * (width - filled)}] {self.done}/{self.total} {note}")
            if self.done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"{self.stage}: {self.done}/{self.total} shards done {note}\n")
        sys.stderr.flush()

    def step(self, note=""):
        self.done += 1
        self.show(note)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    import ray

    run = a.run.resolve()
    binary = str(Path(a.hardneg).resolve()) if os.path.sep in a.hardneg else a.hardneg
    status = hardneg_status(binary, run)
    threads = a.threads or max(1, int(a.cpus_per_task))
    # The driver's hardneg and ONNX Runtime settings travel with every task.
    env = {k: v for k, v in os.environ.items() if k.startswith(("HARDNEG_", "ORT_", "RUST_LOG"))}
    if a.address:
        ray.init(address=a.address, runtime_env={"env_vars": env}, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, object_store_memory=80 * 2**20, runtime_env={"env_vars": env},
                 log_to_driver=False)

    @ray.remote
    def task(cmd, log):
        return run_logged(cmd, log)

    gpus = {"embed-corpus": a.gpus_per_embed_task, "mine-queries": a.gpus_per_mine_task}
    for stage in status["stages"]:
        name, total = stage["stage"], stage["total"]
        todo = [s for s in stage["shards"] if s["state"] != "done"]
        progress = Progress(name, total, total - len(todo))
        extra = ["--threads", str(threads)]
        if gpus.get(name, 0) > 0:
            # Ray sets CUDA_VISIBLE_DEVICES to the task's GPUs; a session on each.
            whole = max(1, int(gpus[name]))
            extra += ["--device", ",".join(f"cuda:{i}" for i in range(whole))]
        pending = {}
        for s in todo:
            log = log_path(run, name, s["index"], total)
            cmd = [binary, "stage", name, "--run", str(run), "--shard", s["shard"], "--no-progress", *extra]
            ref = task.options(num_cpus=a.cpus_per_task, num_gpus=gpus.get(name, 0), max_retries=a.max_retries,
                               retry_exceptions=True, name=f"hardneg {name} {s['shard']}").remote(cmd, str(log))
            pending[ref] = (s["shard"], log)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                shard, log = pending.pop(ref)
                try:
                    seconds = ray.get(ref)
                except Exception as e:  # the shard failed past its retries
                    for other in pending:
                        ray.cancel(other, force=True)
                    sys.stderr.write(f"\nhardneg_ray: {name} {shard} failed after {a.max_retries} retries: "
                                     f"{str(e).strip().splitlines()[-1]}\n--- last lines of {log}:\n{tail(log)}")
                    ray.shutdown()
                    return 1
                progress.step(f"({shard} in {seconds:.1f}s)")
    if not a.no_finalize:
        log = run / "logs" / "finalize.log"
        try:
            ray.get(task.options(num_cpus=a.cpus_per_task, max_retries=a.max_retries, retry_exceptions=True,
                                 name="hardneg finalize").remote([binary, "finalize", "--run", str(run), "--no-progress"],
                                                                 str(log)))
        except Exception:
            sys.stderr.write(f"hardneg_ray: finalize failed\n--- last lines of {log}:\n{tail(log)}")
            ray.shutdown()
            return 1
        sys.stderr.write(f"finalized: {status.get('out')}\n")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
