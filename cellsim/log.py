"""Rank-0 logging: rank 0 logs to stdout and an optional file; other ranks log nothing."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "cellsim"


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def setup_logging(rank: int = 0, logfile: str | None = None, level: int = logging.INFO,
                  append: bool = False) -> logging.Logger:
    """Configure the cellsim logger. Only rank 0 gets handlers; the others a NullHandler."""
    log = get_logger()
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = False
    log.setLevel(level)
    if rank != 0:
        log.addHandler(logging.NullHandler())
        return log
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(stream)
    if logfile is not None:
        fh = logging.FileHandler(logfile, mode="a" if append else "w")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)
    return log
