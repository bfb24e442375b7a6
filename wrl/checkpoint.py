"""Checkpoints: one ``.npz`` of named arrays plus JSON metadata; no pickled code, written atomically.

Array names are the pytree key paths of the training state (``state/agent/actor/params/...``), so a
checkpoint is checked leaf by leaf (name, shape, dtype) against the state a config builds before it is
loaded; any difference is a :class:`~wrl.errors.CheckpointError` naming the fix.

Arrays that are only partly filled (the replay buffer, rows ``[0, size)`` of its capacity) are stored up to
their filled rows (``filled``) and padded back with zeros, their initial value, on load: a checkpoint early
in a run with a 1M-row buffer holds its few thousand rows, not 1M.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from wrl.atomic import atomic_write
from wrl.errors import CheckpointError

META_KEY = "__meta__"


def _leaf_names(tree: Any, prefix: str) -> list[tuple[str, Any]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [(prefix + jax.tree_util.keystr(path, simple=True, separator="/"), leaf) for path, leaf in leaves]


def save_checkpoint(path: str | Path, state: Any, extra_arrays: dict[str, np.ndarray], meta: dict,
                    filled: dict[str, int] | None = None) -> None:
    """Write ``state`` (pytree), extra named arrays and JSON ``meta`` to ``path`` atomically (a failed write
    raises :class:`~wrl.errors.WriteError` and leaves ``path`` as it was).

    ``filled`` maps a leaf-name prefix (``"state/replay/"``) to the number of leading rows that hold data:
    every array under it with more rows than that is stored up to them (its full row count recorded in the
    metadata, and restored by :func:`load_checkpoint` with zero rows, the initial value).
    """
    path = Path(path)
    arrays = {name: np.asarray(leaf) for name, leaf in _leaf_names(state, "state/")}
    trimmed = {}
    for prefix, rows in (filled or {}).items():
        for name, arr in arrays.items():
            if name.startswith(prefix) and arr.ndim >= 1 and arr.shape[0] > rows:
                trimmed[name] = arr.shape[0]
                arrays[name] = arr[:rows]
    meta = {**meta, "trimmed_rows": trimmed} if trimmed else meta
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in extra_arrays.items()})
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_meta(path: str | Path) -> dict:
    """The JSON metadata of a checkpoint (cheap: reads one member)."""
    with _open(path) as data:
        return _meta(data, path)


def _open(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train first, or point at a run directory that has one")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt ({type(e).__name__}); resume from a good copy "
                              "or start a new run") from None


def _meta(data, path) -> dict:
    try:
        return json.loads(bytes(data[META_KEY]).decode())
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError):
        raise CheckpointError(f"checkpoint {path} has no readable metadata (corrupt or not a wrl "
                              "checkpoint); start a new run") from None


def load_checkpoint(path: str | Path, template: Any) -> tuple[Any, dict[str, np.ndarray], dict]:
    """Load into the structure of ``template``; returns (state, extra arrays, meta)."""
    with _open(path) as data:
        meta = _meta(data, path)
        try:
            names = set(data.files)
            leaves = []
            for name, leaf in _leaf_names(template, "state/"):
                if name not in names:
                    raise CheckpointError(f"checkpoint {path} does not match this configuration (missing "
                                          f"{name}); resume with the run's own config")
                arr = data[name]
                full_rows = meta.get("trimmed_rows", {}).get(name)
                if full_rows is not None and arr.ndim >= 1 and full_rows == leaf.shape[0] >= arr.shape[0]:
                    arr = np.concatenate([arr, np.zeros((full_rows - arr.shape[0], *arr.shape[1:]), arr.dtype)])
                if arr.shape != leaf.shape or arr.dtype != leaf.dtype:
                    raise CheckpointError(
                        f"checkpoint {path} does not match this configuration ({name} is {arr.dtype}"
                        f"{list(arr.shape)}, expected {leaf.dtype}{list(leaf.shape)}); resume with the "
                        "run's own config")
                leaves.append(arr)
            extra = {n[len("extra/"):]: data[n] for n in data.files if n.startswith("extra/")}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise CheckpointError(f"checkpoint {path} is corrupt ({type(e).__name__}); resume from a good "
                                  "copy or start a new run") from None
    treedef = jax.tree_util.tree_structure(template)
    state = jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])
    return state, extra, meta


def load_tree(path: str | Path, template: Any, prefix: str) -> Any:
    """Part of a checkpoint: the arrays named ``prefix`` + the leaf paths of ``template`` (a pytree of arrays or
    ``jax.ShapeDtypeStruct``), e.g. a run's policy parameters without its replay. Shapes and dtypes must match."""
    with _open(path) as data:
        try:
            leaves = []
            for name, leaf in _leaf_names(template, prefix):
                if name not in data.files:
                    raise CheckpointError(f"{path} does not hold {name}; it was written for another configuration")
                arr = data[name]
                if arr.shape != tuple(leaf.shape) or arr.dtype != leaf.dtype:
                    raise CheckpointError(f"{path} does not match its configuration ({name} is {arr.dtype}"
                                          f"{list(arr.shape)}, expected {leaf.dtype}{list(leaf.shape)})")
                leaves.append(arr)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise CheckpointError(f"{path} is corrupt ({type(e).__name__})") from None
    treedef = jax.tree_util.tree_structure(template)
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])
