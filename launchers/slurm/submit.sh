#!/usr/bin/env bash
# Submits a planned hardneg run folder to Slurm: one job array per stage, chained with
# --dependency=afterok, then a finalize job. Only shards without a done marker are submitted, so
# running it again on the same folder resubmits just what failed or never ran.
#
#   launchers/slurm/submit.sh RUN_DIR [--wait] [--throttle K] [--threads N] [--gpus-per-embed-task N]
#                             [--hardneg PATH] [-- sbatch options...]
#
#   --wait                   block until finalize ends; exit non-zero if any job failed
#   --throttle K             at most K array tasks of a stage at once (default 64)
#   --threads N              hardneg --threads and --cpus-per-task per shard (default 1)
#   --gpus-per-embed-task N  --gres=gpu:N for embed-corpus, which then runs with --device cuda
#   --hardneg PATH           the binary, at this path on every node (default: $HARDNEG_BIN, this
#                            repository's target/release/hardneg, else `hardneg` on PATH)
#   anything after --        passed to every sbatch (e.g. --partition gpu --time 4:00:00)
#
# Logs: RUN_DIR/logs/<stage>/<array index>.log; `hardneg status --run RUN_DIR` shows progress.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
RUN=$(cd "$1" && pwd) || { echo "submit.sh: no run folder $1" >&2; exit 2; }
shift
WAIT=0 THROTTLE=64 THREADS=1 GPUS=0 SBATCH_EXTRA=()
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${HARDNEG_BIN:-}
if [[ -z $BIN ]]; then
  if [[ -x $HERE/../../target/release/hardneg ]]; then BIN=$(cd "$HERE/../../target/release" && pwd)/hardneg
  else BIN=$(command -v hardneg || echo hardneg); fi
fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --wait) WAIT=1 ;;
    --throttle) THROTTLE=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --gpus-per-embed-task) GPUS=$2; shift ;;
    --hardneg) BIN=$2; shift ;;
    --) shift; SBATCH_EXTRA=("$@"); break ;;
    *) echo "submit.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done

STATUS=$("$BIN" status --run "$RUN" --json) || exit 2
# "<stage> <shard count> <comma list of shards not done>" per stage.
PENDING=$(python3 -c '
import json, sys
for st in json.load(sys.stdin)["stages"]:
    todo = [str(s["index"]) for s in st["shards"] if s["state"] != "done"]
    print(st["stage"], st["total"], ",".join(todo) or "-")
' <<<"$STATUS")

mkdir -p "$RUN/logs"
DEP=() JOBS=()
while read -r STAGE TOTAL SHARDS; do
  if [[ $SHARDS == - ]]; then
    echo "$STAGE: all $TOTAL shards done"
    continue
  fi
  EXTRA=(--threads "$THREADS")
  RES=(--cpus-per-task "$THREADS")
  if [[ $STAGE == embed-corpus && $GPUS != 0 ]]; then
    # Slurm sets CUDA_VISIBLE_DEVICES to the job's GPUs; a session on each (cuda:0,cuda:1,…).
    DEVICES=$(seq -s, -f 'cuda:%g' 0 $((GPUS - 1)))
    EXTRA+=(--device "$DEVICES")
    RES+=(--gres "gpu:$GPUS")
  fi
  mkdir -p "$RUN/logs/$STAGE"
  JOB=$(sbatch --parsable --job-name "hardneg-$STAGE" --array "$SHARDS%$THROTTLE" "${RES[@]}" "${DEP[@]}" \
    --kill-on-invalid-dep=yes --output "$RUN/logs/$STAGE/%a.log" "${SBATCH_EXTRA[@]}" \
    --wrap "exec '$BIN' stage $STAGE --run '$RUN' --shard \${SLURM_ARRAY_TASK_ID}/$TOTAL --no-progress ${EXTRA[*]}")
  JOB=${JOB%%;*}
  echo "$STAGE: job $JOB, shards $SHARDS of $TOTAL"
  DEP=(--dependency "afterok:$JOB")
  JOBS+=("$JOB")
done <<<"$PENDING"

WAIT_FLAG=()
[[ $WAIT == 1 ]] && WAIT_FLAG=(--wait)
set +e
FINAL=$(sbatch --parsable --job-name hardneg-finalize "${DEP[@]}" --kill-on-invalid-dep=yes \
  --output "$RUN/logs/finalize.log" "${SBATCH_EXTRA[@]}" "${WAIT_FLAG[@]}" \
  --wrap "exec '$BIN' finalize --run '$RUN' --no-progress")
CODE=$?
set -e
echo "finalize: job ${FINAL%%;*}"
if [[ $WAIT == 1 ]]; then
  "$BIN" status --run "$RUN"
  # A job cancelled because a stage before it failed ends "successfully" for sbatch --wait: the
  # run folder says whether finalize ran.
  FINALIZED=$("$BIN" status --run "$RUN" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["finalized"])')
  if [[ $CODE != 0 || $FINALIZED != True ]]; then
    echo "submit.sh: the run did not finish; run submit.sh again to resubmit what is not done" >&2
    exit 1
  fi
fi
