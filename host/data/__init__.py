"""Datasets: model windows with targets, from the simulator, recorded sessions or MMECG.

Public API: ``WindowSet``, ``save_windows``, ``load_windows``, ``load_split``,
``read_manifest`` (format), ``build_sim_dataset`` (sim_dataset),
``build_session_dataset`` / ``load_session_recording`` (session_dataset),
``load_mmecg_trial`` / ``build_mmecg_dataset`` (mmecg).
"""

from host.data.format import SPLITS, WindowSet, load_split, load_windows, read_manifest, save_windows

__all__ = ["SPLITS", "WindowSet", "load_split", "load_windows", "read_manifest", "save_windows"]
