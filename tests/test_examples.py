"""The training examples run and learn: each asserts its own held-out threshold and exits 1
below it (the thresholds are stated in each script)."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
# script: (modules it needs, arguments for a CI-sized run)
SCRIPTS = {
    "train_numpy.py": (["sklearn"], []),
    "train_jax.py": (["sklearn", "jax", "optax"], []),
    "train_torch.py": (["sklearn", "torch"], ["--epochs", "20"]),
    "train_keras.py": (["sklearn", "keras"], []),  # sets KERAS_BACKEND=jax itself when unset
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_trains(script):
    needs, args = SCRIPTS[script]
    for module in needs:
        pytest.importorskip(module)
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                         timeout=300, env=env, cwd=EXAMPLES.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "accuracy" in out.stdout
