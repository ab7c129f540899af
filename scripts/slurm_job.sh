#!/bin/bash
# Slurm job script for cellsim: run one case on the job's MPI ranks.
#
#   sbatch scripts/slurm_job.sh [CASE] [OUTDIR]
#   sbatch --ntasks=8 --time=02:00:00 scripts/slurm_job.sh cases/particle_charge.toml results/pc
#
# CASE   a case file: a path on the host, or one shipped in the image (cases/NAME.toml)
#        (default cases/particle_charge.toml)
# OUTDIR results folder on the host (default results/<case name>-<job id>)
# CELLSIM_MODE selects how MPI is started:
#   container (default)  Apptainer image, the container's own mpiexec (MPICH) starts
#                        $SLURM_NTASKS ranks. Single node: use --nodes=1.
#   srun                 Apptainer image, Slurm's srun starts the ranks through PMI
#                        (srun --mpi=pmi2 ...). Needed for several nodes; see
#                        docs/containers.md, "Host MPI and container MPI".
#   venv                 no container: the .venv made by scripts/setup, its mpiexec.
# CELLSIM_SIF  the Apptainer image (default ./cellsim.sif), see docs/containers.md.
#SBATCH --job-name=cellsim
#SBATCH --nodes=1
#SBATCH --ntasks=4
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
#SBATCH --output=cellsim-%j.out
set -euo pipefail

CASE="${1:-cases/particle_charge.toml}"
NAME="$(basename "$CASE" .toml)"
OUTDIR="${2:-results/$NAME-${SLURM_JOB_ID:-local}}"
MODE="${CELLSIM_MODE:-container}"
SIF="${CELLSIM_SIF:-cellsim.sif}"
NP="${SLURM_NTASKS:-2}"
case "$MODE" in
    container | srun | venv) ;;
    *) echo "CELLSIM_MODE must be container, srun or venv (got '$MODE')" >&2; exit 2 ;;
esac
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"

# One thread per MPI rank (BLAS/OpenMP).
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}" OPENBLAS_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
echo "cellsim job ${SLURM_JOB_ID:-local}: case $CASE, $NP ranks, mode $MODE, output $OUTDIR"

if [[ "$MODE" == venv ]]; then
    ROOT="${SLURM_SUBMIT_DIR:-$PWD}"
    source "$ROOT/.venv/bin/activate"
    exec mpiexec -n "$NP" cellsim run "$CASE" -o "$OUTDIR"
fi

# Apptainer (or Singularity): the image is read-only, so the results folder is bound
# on /work/out; a case file from the host is bound read-only under /work/input.
APPTAINER="$(command -v apptainer || command -v singularity || true)"
if [[ -z "$APPTAINER" ]]; then
    echo "neither apptainer nor singularity is on PATH (module load apptainer?)," \
        "or use CELLSIM_MODE=venv" >&2
    exit 2
fi
if [[ ! -f "$SIF" ]]; then
    echo "no image $SIF: build it (docs/containers.md) or set CELLSIM_SIF" >&2
    exit 2
fi
BINDS=(--bind "$OUTDIR:/work/out")
if [[ -f "$CASE" ]]; then
    CASE_DIR="$(cd "$(dirname "$CASE")" && pwd)"
    BINDS+=(--bind "$CASE_DIR:/work/input:ro")
    CASE_IN="/work/input/$(basename "$CASE")"
else
    CASE_IN="$CASE"  # shipped in the image, relative to /work
fi
# The JIT cache of FFCx: kept apart from the host's ~/.cache/fenics (other compiler/glibc).
export APPTAINERENV_XDG_CACHE_HOME="${HOME}/.cache/cellsim-container"
export SINGULARITYENV_XDG_CACHE_HOME="$APPTAINERENV_XDG_CACHE_HOME"
mkdir -p "$APPTAINERENV_XDG_CACHE_HOME"
RUN=("$APPTAINER" exec --pwd /work "${BINDS[@]}" "$SIF")

case "$MODE" in
    container)
        "${RUN[@]}" mpiexec -n "$NP" cellsim run "$CASE_IN" -o out
        ;;
    srun)
        srun --mpi="${CELLSIM_SRUN_MPI:-pmi2}" "${RUN[@]}" cellsim run "$CASE_IN" -o out
        ;;
esac
echo "results in $OUTDIR"
