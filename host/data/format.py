"""The dataset contract: model windows with their targets, and the dataset folder.

A dataset folder holds ``train.npz``, ``val.npz``, ``test.npz`` (one ``WindowSet`` each,
split by subject) and ``manifest.json`` (seed, subjects per split with a summary of their
parameters, DSP settings, seconds per subject, software version). A large split is written
as shards ``train-00000.npz``, ``train-00001.npz``, ... (whole subjects per shard) listed in
``manifest.json`` under ``splits.<split>.files`` with their window counts, so training can
stream it from disk (``host.train``) instead of holding it in memory.

``save_windows`` writes byte-reproducible files: the zip entries carry a fixed timestamp
(``np.savez`` stamps the current time), so the same windows give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from cardioradar.leads import LEADS as LEADS_ORDER
from cardioradar.leads import N_LEADS

SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# field -> (dtype, shape pattern); 'N', 'T', 'V', 'C' are shared dimensions.
_SCHEMA = {
    "features_q15": (np.int16, ("N", "T", "V", "C")),
    "ecg_mv": (np.float32, ("N", "T", N_LEADS)),
    "anchors": (np.float32, ("N", "T")),
    "r_peak_mask": (np.uint8, ("N", "T")),
    "cycle_s": (np.float32, ("N",)),
    "subject_id": (np.int32, ("N",)),
    "condition": (np.str_, ("N",)),
    "window_start_s": (np.float64, ("N",)),
}


@dataclass(frozen=True)
class WindowSet:
    """N model windows of T samples at the DSP rate (100 Hz) with their targets.

    features_q15: int16 (N, T, V, C) Q15, exactly ``DspFeatures.features_q15`` (T = 512,
        V = 4 voxels, C = 3 channels phase_dd, i_dd, q_dd).
    ecg_mv: float32 (N, T, 12) true 12-lead ECG (mV, lead order I, II, III, aVR, aVL, aVF,
        V1-V6) at each feature sample's frame time; NaN for leads a reference lacks.
    anchors: float32 (N, T) R-peak anchor target: Gaussian bumps (sigma 20 ms, peak 1)
        centred on the true lead-II R peaks.
    r_peak_mask: uint8 (N, T) 1 at the sample nearest each true R peak, else 0.
    cycle_s: float32 (N,) mean RR interval over the window, s.
    subject_id: int32 (N,) subject index (population index for simulated data).
    condition: (N,) str, the subject's condition ('sinus', 'af', ...; MMECG: physistatus).
    window_start_s: float64 (N,) time of sample 0 on the recording's clock, s.
    """

    features_q15: np.ndarray
    ecg_mv: np.ndarray
    anchors: np.ndarray
    r_peak_mask: np.ndarray
    cycle_s: np.ndarray
    subject_id: np.ndarray
    condition: np.ndarray
    window_start_s: np.ndarray

    def __post_init__(self) -> None:
        dims: dict[str, int] = {}
        for name, (dtype, pattern) in _SCHEMA.items():
            a = getattr(self, name)
            if not isinstance(a, np.ndarray):
                raise InputDataError(f"WindowSet.{name}: expected a numpy array, got {type(a).__name__}")
            ok_dtype = a.dtype.kind == "U" if dtype is np.str_ else a.dtype == dtype
            if not ok_dtype:
                raise InputDataError(f"WindowSet.{name}: expected dtype {np.dtype(dtype).name}, got {a.dtype}")
            if a.ndim != len(pattern):
                raise InputDataError(f"WindowSet.{name}: expected shape {pattern}, got {a.shape}")
            for dim, size in zip(pattern, a.shape):
                want = dims.setdefault(dim, size) if isinstance(dim, str) else dim
                if size != want:
                    raise InputDataError(f"WindowSet.{name}: dimension {dim} expected {want}, got {size} "
                                         f"(shape {a.shape})")

    def __len__(self) -> int:
        return int(self.features_q15.shape[0])

    def select(self, mask_or_index) -> WindowSet:
        """A subset (boolean mask or index array) of the windows."""
        return WindowSet(**{f.name: getattr(self, f.name)[mask_or_index] for f in fields(self)})

    def subjects(self) -> np.ndarray:
        """Sorted unique subject ids."""
        return np.unique(self.subject_id)

    @classmethod
    def empty(cls, t: int = 512, v: int = 4, c: int = 3) -> WindowSet:
        return cls(np.zeros((0, t, v, c), np.int16), np.zeros((0, t, N_LEADS), np.float32),
                   np.zeros((0, t), np.float32), np.zeros((0, t), np.uint8), np.zeros(0, np.float32),
                   np.zeros(0, np.int32), np.zeros(0, "U1"), np.zeros(0, np.float64))

    @classmethod
    def concat(cls, parts: list[WindowSet]) -> WindowSet:
        """Windows of several sets in order (an empty list gives an empty set)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


def save_windows(path: str | Path, ws: WindowSet) -> Path:
    """Write ``ws`` as a compressed .npz that ``np.load`` reads (no pickles), byte-reproducible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in fields(ws):
            info = zipfile.ZipInfo(f"{f.name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(getattr(ws, f.name)), allow_pickle=False)
    tmp.replace(path)
    return path


def load_windows(path: str | Path) -> WindowSet:
    """Read a ``WindowSet`` written by ``save_windows``; errors name the file and field."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: no such window file")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _SCHEMA if k not in z.files]
            if missing:
                raise InputDataError(f"{path}: missing fields {missing} (got {sorted(z.files)})")
            arrays = {k: z[k] for k in _SCHEMA}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise InputDataError(f"{path}: not a window file: {e}") from e
    try:
        return WindowSet(**arrays)
    except InputDataError as e:
        raise InputDataError(f"{path}: {e}") from e


def write_manifest(out_dir: Path, manifest: dict) -> Path:
    p = Path(out_dir) / "manifest.json"
    p.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return p


def read_manifest(dataset_dir: str | Path) -> dict:
    p = Path(dataset_dir) / "manifest.json"
    if not p.is_file():
        raise InputDataError(f"{p}: no manifest (is {dataset_dir} a dataset folder?)")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise InputDataError(f"{p}: not JSON: {e}") from e


def split_files(dataset_dir: str | Path, split: str) -> list[tuple[Path, int | None]]:
    """The files of one split with their window counts (None where the manifest has none)."""
    if split not in SPLITS:
        raise InputDataError(f"split: expected one of {SPLITS}, got {split!r}")
    has_manifest = (Path(dataset_dir) / "manifest.json").is_file()
    entry = read_manifest(dataset_dir).get("splits", {}).get(split, {}) if has_manifest else {}
    files = entry.get("files") if isinstance(entry, dict) else None
    if not files:
        return [(Path(dataset_dir) / f"{split}.npz", entry.get("n_windows") if isinstance(entry, dict) else None)]
    return [(Path(dataset_dir) / f["name"], int(f["n_windows"])) for f in files]


def load_split(dataset_dir: str | Path, split: str) -> WindowSet:
    """One split of a dataset folder ('train', 'val' or 'test'), all its shards in order."""
    files = split_files(dataset_dir, split)
    if len(files) == 1:
        return load_windows(files[0][0])
    return WindowSet.concat([load_windows(f) for f, _ in files])


def dataset_digest(dataset_dir: str | Path, splits: tuple[str, ...] = ("train", "val")) -> str:
    """The content identity of ``splits`` of a dataset folder (hex): SHA-256 over its manifest and,
    per file, each array's name, CRC-32 and size as the zip directory lists them (read without
    inflating anything). Other windows give another digest; a rebuild of the same windows the same
    one (``save_windows`` is byte-reproducible)."""
    h = hashlib.sha256((Path(dataset_dir) / "manifest.json").read_bytes())
    for split in splits:
        for path, _ in split_files(dataset_dir, split):
            try:
                with zipfile.ZipFile(path) as zf:
                    members = [(i.filename, i.CRC, i.file_size) for i in zf.infolist()]
            except (OSError, zipfile.BadZipFile) as e:
                raise InputDataError(f"{path}: not a window file ({e})") from e
            h.update(json.dumps([path.name, members]).encode())
    return h.hexdigest()


class ShardWriter:
    """Writes one split as shards of whole subjects: ``add(ws)`` per subject, in order; a shard
    is closed once it holds ``windows_per_shard`` windows or more. ``close()`` returns the
    manifest entries; a split that fits one shard is written as ``<split>.npz``."""

    def __init__(self, out_dir: str | Path, split: str, windows_per_shard: int):
        if windows_per_shard < 1:
            raise InputDataError(f"windows per shard: expected >= 1, got {windows_per_shard}")
        self.out, self.split, self.per_shard = Path(out_dir), split, int(windows_per_shard)
        self._parts: list[WindowSet] = []
        self._files: list[dict] = []

    def add(self, ws: WindowSet) -> None:
        self._parts.append(ws)
        if sum(len(p) for p in self._parts) >= self.per_shard:
            self._flush()

    def _flush(self) -> None:
        ws = WindowSet.concat(self._parts)
        self._parts = []
        name = f"{self.split}-{len(self._files):05d}.npz"
        save_windows(self.out / name, ws)
        self._files.append({"name": name, "n_windows": len(ws)})

    def close(self) -> list[dict]:
        if self._parts or not self._files:
            self._flush()
        if len(self._files) == 1:  # the common small case keeps the one-file layout
            (self.out / self._files[0]["name"]).replace(self.out / f"{self.split}.npz")
            self._files[0]["name"] = f"{self.split}.npz"
        return self._files
