"""Shared plumbing of the benchmark scripts: the machine description every result carries, JSON, timers.

Not part of the package: the scripts import it as a sibling module (``python benchmarks/bench_*.py`` puts
``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from anywhere without installing
    sys.path.insert(0, str(REPO))


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(*, keras_backend: bool = False) -> dict:
    """What the figures were measured on: CPU, cores, load, platform, library versions, git commit.

    ``load_average`` (1, 5, 15 min) says how contended the cores were: on a 2-core machine anything well
    above 2
    means other jobs were competing and the timings are inflated.
    """
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "numpy": np.__version__,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        info["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    for mod in ("librosa", "soundfile", "joblib", "sklearn"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a version string is nice to have, never required
            pass
    if keras_backend:
        import keras

        info["keras"] = keras.__version__
        info["keras_backend"] = keras.backend.backend()
        info["devices"] = accelerator_devices()
    return info


def accelerator_devices() -> list[str]:
    """Devices the Keras backend will run on (e.g. ``["cuda:0 NVIDIA H100 80GB HBM3"]`` or ``["cpu:0"]``)."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()]
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return [d.name for d in gpus] or ["cpu:0"]
        if backend == "torch":
            import torch

            return [
                f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
            ] or ["cpu:0"]
    except Exception as e:  # noqa: BLE001
        return [f"unknown ({type(e).__name__}: {e})"]
    return ["unknown"]


def write_json(result: dict, path) -> None:
    """Write a result dict as indented JSON (NaN → null, floats to 6 decimals), creating the folder."""
    from mer_helpers.files import save_json

    save_json(result, path, digits=6)


def report(result: dict, print_table, json_path=None) -> dict:
    """The common end of every benchmark: print its table and, when asked, write the JSON."""
    print_table(result)
    if json_path:
        write_json(result, json_path)
        print(f"wrote {json_path}")
    return result


@contextmanager
def timer(store: dict, key: str):
    """``with timer(d, "x"): ...`` stores the wall seconds in ``d["x"]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        store[key] = time.perf_counter() - t0


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """The scripts' parser: the module docstring's first paragraph as its description, layout kept."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def command_line() -> str:
    """The command that produced a result, for the JSON and the README."""
    return " ".join([Path(sys.executable).name, *sys.argv])


#: Feature resolutions the scripts accept: those of the recipes (``seed``/``gpu``: 128 × 300, ``cpu``: 32 × 75)
#: and a tiny one for smoke tests.
CONFIG_CHOICES = ("seed", "cpu", "tiny")


def resolve_config(name: str):
    """The features of recipe ``name`` (:data:`mer_helpers.recipe.RECIPES`), or ``"tiny"``: 32 × 40 (hop 2757),
    only to check that a script runs."""
    from mer_helpers.features import FeatureConfig
    from mer_helpers.recipe import RECIPES

    if name == "tiny":
        return FeatureConfig(n_mels=32, hop_length=2757, n_frames=40)
    if name not in RECIPES:
        raise SystemExit(f"unknown --config {name!r}; choose one of {', '.join(CONFIG_CHOICES)}")
    return RECIPES[name].features
