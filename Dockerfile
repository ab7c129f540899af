# cellsim: DOLFINx 0.11 (PyPI wheel dolfinx-solver-real: PETSc, MPICH, HDF5) on Debian trixie.
#
#   docker build -t cellsim .
#   mkdir -p out && docker run --rm -v $PWD/out:/work/out cellsim \
#       mpiexec -n 2 cellsim run cases/particle_charge.toml -o out
#
# Behind a TLS-intercepting proxy, pass its CA bundle to pip without baking it in:
#   podman build -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
#       --build-arg PIP_CERT=/run/host-ca.crt -t cellsim .
# See docs/containers.md (Docker, Podman, Apptainer/Singularity, Slurm).
FROM debian:trixie-slim

# Python 3.13 from Debian; gcc, libc6-dev and python3-dev because FFCx compiles the
# forms with the C compiler at run time; the X/GL libraries are what the gmsh wheel
# links against (it is loaded even without a display); libgl1/libegl1/mesa for
# PyVista's off-screen rendering.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev gcc libc6-dev ca-certificates \
      libglu1-mesa libgl1 libegl1 libgl1-mesa-dri libxrender1 libxcursor1 libxfixes3 \
      libxext6 libxft2 libfontconfig1 libxinerama1 libgomp1 \
 && rm -rf /var/lib/apt/lists/*

# A virtual environment that is first on PATH (python, pip, cellsim, mpiexec).
ENV VIRTUAL_ENV=/opt/cellsim \
    PATH=/opt/cellsim/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1
RUN python3 -m venv /opt/cellsim

# Optional CA bundle for pip (empty: pip's own certificates). Used only as `pip --cert`.
ARG PIP_CERT=""

# Dependencies first, from pyproject.toml and a stub package, so that editing the code
# does not re-download them (this layer changes only when pyproject.toml does).
COPY pyproject.toml /tmp/cellsim-src/pyproject.toml
RUN cd /tmp/cellsim-src \
 && mkdir cellsim && echo '__version__ = "0"' > cellsim/__init__.py && touch README.md \
 && pip install ${PIP_CERT:+--cert "$PIP_CERT"} setuptools ".[dolfinx]" \
 && pip uninstall -y cellsim \
 && rm -rf /tmp/cellsim-src

# The code: a regular (non-editable) install, no dependency changes, no network.
COPY pyproject.toml README.md /tmp/cellsim-src/
COPY cellsim /tmp/cellsim-src/cellsim
RUN pip install --no-deps --no-build-isolation /tmp/cellsim-src \
 && rm -rf /tmp/cellsim-src \
 && python -c "import cellsim.cli" \
 && cellsim --help > /dev/null

# A non-root user. HOME is writable by any uid (like /tmp), so that the FFCx JIT cache
# (~/.cache/fenics) and matplotlib's config work with `docker run --user UID:GID` too.
RUN useradd --create-home --uid 1000 --shell /bin/bash cellsim \
 && chmod 1777 /home/cellsim \
 && mkdir -p /work/out \
 && chown -R cellsim:cellsim /work
ENV HOME=/home/cellsim

# Runnable cases, reachable as ./cases from the working directory.
COPY --chown=cellsim:cellsim cases /work/cases

USER cellsim
WORKDIR /work
# The forms of the shipped cases compiled into the JIT cache (~/.cache/fenics) once, so a
# first run does not wait for the C compiler; the cache stays writable for any uid.
RUN python -m cellsim.precompile --cases /work/cases \
 && chmod -R a+rwX /home/cellsim/.cache
# /work/out is meant to be a bind mount for the results: -v $PWD/out:/work/out
