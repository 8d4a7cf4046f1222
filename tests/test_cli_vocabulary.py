"""One CLI vocabulary (docs/architecture.md "CLI vocabulary", issue 15 item 4): the parser is
walked over every command; former spellings still parse with one deprecation line; `--out`
follows one rule; every bench with goals has `--check`, which exits 9 naming each missed goal.
The benches' measurements are faked here (no wall clock): what is tested is the goal check."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cardioradar.cli import build_parser, main
from cardioradar.cliargs import Goal, out_path
from cardioradar.errors import ConfigError, GoalMissed

ROOT = Path(__file__).resolve().parent.parent
OLD = {"--preset", "--presets", "--dataset", "--fast"}  # former spellings: hidden aliases only
NO_RESULT = {"sim frames", "view"}  # streams lines until stopped: no single result to print


def commands(parser: argparse.ArgumentParser, words=()):
    """(command words, its parser) for every leaf command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(words), parser
        return
    for name, p in subs[0].choices.items():
        yield from commands(p, (*words, name))


def visible(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in p._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


ALL = dict(commands(build_parser()))


def test_the_walk_sees_every_command():
    assert {"sim record", "bench edge", "pull", "eval", "bundle verify", "report", "demo"} <= set(ALL)
    assert len(ALL) >= 30


@pytest.mark.parametrize("name", sorted(ALL))
def test_one_word_per_idea(name):
    flags = visible(ALL[name])
    assert not OLD & set(flags), f"{name}: former spelling shown: {OLD & set(flags)}"
    if "--mode" in flags:
        assert flags["--mode"].choices == ("adc", "fast"), name
    if name == "bundle verify":
        assert "--board" not in flags and "--expect-board" in flags  # --board is always a profile
    if "--out" in flags:  # the one rule, stated by the one helper
        assert "a folder" in flags["--out"].help, (name, flags["--out"].help)
    if name not in NO_RESULT and name != "sim serve" and name != "agent":
        assert "--json" in flags and "last stdout line" in flags["--json"].help, name
    if name.startswith("bench "):
        assert f"exit {GoalMissed.exit_code}" in flags["--check"].help and "goals:" in flags["--check"].help, name


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_help_renders(name):
    # argparse %-formats help texts: one stray "%" (a goal in dm%) made `bench paper --help` a traceback
    text = ALL[name].format_help()
    if name == "bench paper":
        assert "dm_pct_const_m3db >= -8 %" in " ".join(text.split())


def test_servers_print_their_ports_first():
    assert "first stdout line" in visible(ALL["sim serve"])["--json"].help
    assert "first stdout line" in visible(ALL["agent"])["--json"].help


def test_goal_missed_has_its_own_exit_code():
    from bundleformat.errors import BundleError
    from cardioradar.errors import CardioRadarError

    others = {c.exit_code for c in (*CardioRadarError.__subclasses__(), BundleError) if c is not GoalMissed}
    assert GoalMissed.exit_code == 9 and 9 not in others and BundleError.exit_code == 8


@pytest.mark.parametrize("argv, dest, want", [
    (["sim", "record", "--seconds", "1", "--out", "x", "--fast"], "mode", "fast"),
    (["demo", "--fast"], "mode", "fast"),
    (["quantize", "sqnr", "--presets", "brady", "sleep"], "subject", ["brady", "sleep"]),
    (["bench", "dsp", "--preset", "brady"], "subject", "brady"),
    (["eval", "--dataset", "ds"], "data", "ds"),
    (["bundle", "verify", "b.bundle", "--pubkey", "k.pub", "--board", "sim"], "expect_board", "sim"),
])
def test_former_spellings_parse_with_one_deprecation_line(argv, dest, want, capsys):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == want
    old = next(a for a in argv if a in OLD | {"--board"})
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {old} is deprecated; use --"), err


@pytest.mark.parametrize("old", ["--dataset", "--data"])
def test_a_former_spelling_keeps_its_flags_exclusions(old, capsys):
    """`eval --dataset D --session S` is refused as `--data D --session S` is (not S ignored)."""
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["eval", old, "ds", "--session", "s.db"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_new_spellings_parse_silently(capsys):
    p = build_parser()
    assert p.parse_args(["sim", "record", "--seconds", "1", "--out", "x"]).mode == "adc"  # same default as before
    assert p.parse_args(["sim", "serve"]).mode == "adc" and p.parse_args(["demo"]).mode == "adc"
    assert p.parse_args(["quantize", "sqnr", "--subject", "brady", "--subject", "af"]).subject == ["brady", "af"]
    assert p.parse_args(["bench", "dsp"]).subject == "healthy-rest"
    assert capsys.readouterr().err == ""


def test_out_rule(tmp_path):
    assert out_path(tmp_path / "r.png", "s.png") == tmp_path / "r.png"  # the suffix names the file
    assert out_path(tmp_path, "s.png") == tmp_path / "s.png"  # a folder: the default name in it
    assert out_path(tmp_path / "new-0.5", "s.png") == tmp_path / "new-0.5" / "s.png"
    for bad in (tmp_path / "r.pdf", tmp_path / "file"):
        bad.write_text("x") if bad.name == "file" else None
        with pytest.raises(ConfigError, match=r"expected a \.png file or a folder"):
            out_path(bad, "s.png")


@pytest.fixture
def ecg_session(tmp_path) -> Path:
    """A session of 20 s of a 1-Hz sine on every lead."""
    from edge.store import SessionWriter
    from edge.types import EcgBlock

    session = tmp_path / "night.db"
    t = np.arange(128 * 20) / 128.0
    with SessionWriter(session, {"board": "sim"}) as w:
        w.add_ecg_block(EcgBlock(0.0, 128.0, np.repeat(np.sin(2 * np.pi * t)[:, None], 12, 1).astype(np.float32)))
    return session


def test_report_out_folder_and_file_under_the_rule(ecg_session, tmp_path, capsys):
    """`report SESSION --out DIR` writes DIR/SESSION.png; `--out X.png` writes X.png."""
    session = ecg_session
    folder = tmp_path / "reports"
    folder.mkdir()
    assert main(["report", str(session), "--out", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["report"] == str(folder / "night.png")
    assert (folder / "night.png").stat().st_size > 0
    assert main(["report", str(session), "--out", str(tmp_path / "r.png")]) == 0 and (tmp_path / "r.png").exists()


# --- benches: --check -------------------------------------------------------------------------

EDGE = {"session_s": 120.0, "wall_s": 1.0, "rtf": 120.0, "peak_rss_mb": 60.0, "latency_ms_p95": 900.0,
        "algorithmic_latency_ms": 800.0, "backend": "aot"}
FLASH = {"size_bytes": 1000, "wire_bytes": 500, "upload_s": 1.0, "effective_kbps": 1300.0, "link_kbps": 921.6,
         "link_payload_kbps": 737.3, "delta_ratio": 0.05, "delta_sent_ratio": 0.1,
         "delta": {"size_bytes": 1000, "sent_bytes": 100, "copied_bytes": 900, "wire_bytes": 25}}
PULL = {"serial_effective_kbps": 1200.0, "link_kbps": 921.6, "tcp_mb_per_s": 30.0, "night_8h_minutes_tcp": 2.0,
        "session_kb_per_s": 100.0, "serial_session_bytes": 1, "tcp_session_bytes": 1, "serial_s": 1.0, "tcp_s": 1.0}
FLEET = {"sessions": 2, "session_s": 60.0, "per_session_s_1w": 2.0, "per_session_s_2w": 1.0, "scaling": 2.0,
         "cpu_ceiling_scaling": 2.0, "load_avg_1min_before": 0.1, "load_avg_1min_after": 0.2}
PAPER = {"seconds": 1.0, "load_avg_1min_before": 0.1, "load_avg_1min_after": 0.1, "cpus": 2,
         "noise_definition": "paper", "dm_pct_const_m3db": -1.0, "dm_pct_burst_3s_0db": -1.0,
         "dm_pct_burst_3s_m9db": -2.0, "af_auc": 1.0, "af_sensitivity": 1.0, "af_specificity": 1.0, "plots": []}


def _fake_benches(monkeypatch, tmp_path, figures: dict) -> None:
    """Each bench's measurement replaced by ``figures[bench]`` (a dict): no wall clock."""
    import host.bench.edge
    import host.bench.flash
    import host.paper.bench
    import host.pullbench
    import host.scale.bench
    import quantize.dspbench
    import quantize.sqnr

    monkeypatch.setattr(host.bench.edge, "bench_edge", lambda *a, **k: figures["edge"])
    monkeypatch.setattr(host.bench.flash, "bench_flash", lambda *a, **k: figures["flash"])
    monkeypatch.setattr(host.pullbench, "bench_pull", lambda *a, **k: figures["pull"])
    monkeypatch.setattr(host.scale.bench, "bench_fleet", lambda *a, **k: figures["fleet"])
    monkeypatch.setattr(host.paper.bench, "run_paper_bench", lambda *a, **k: figures["paper"])
    d = figures["dsp"]
    monkeypatch.setattr(quantize.dspbench, "load_frames", lambda *a, **k: np.zeros((1, 1, 1, 2), np.int16))
    monkeypatch.setattr(quantize.dspbench, "bench_dsp", lambda *a, **k: {
        "frames": 6000, "windows": 10, "seconds": 60.0 / d["rtf"], "rtf": d["rtf"], "frames_per_s": 100 * d["rtf"]})
    monkeypatch.setattr(quantize.sqnr, "run_report", lambda *a, **k: type("R", (), {"sqnr_db_min": d["sqnr_db_min"]}))
    monkeypatch.chdir(tmp_path)  # bench paper's default --out


GOOD = {"edge": EDGE, "flash": FLASH, "pull": PULL, "fleet": FLEET, "paper": PAPER,
        "dsp": {"rtf": 250.0, "sqnr_db_min": 70.0}}
# One figure per bench moved past its goal, and the words its stderr line must hold.
MISSED = {
    "edge": ({**EDGE, "peak_rss_mb": 187.7}, "peak_rss_mb 187.7 (goal <= 120)"),
    "flash": ({**FLASH, "delta_ratio": 0.5}, "delta_ratio 0.5 (goal <= 0.1)"),
    "pull": ({**PULL, "night_8h_minutes_tcp": 12.5}, "night_8h_minutes_tcp 12.5 (goal <= 10)"),
    "fleet": ({**FLEET, "scaling": 1.2}, "scaling 1.2 (goal >= 1.6)"),
    "paper": ({**PAPER, "dm_pct_const_m3db": -912.0}, "dm_pct_const_m3db -912 (goal >= -8)"),
    "dsp": ({"rtf": 150.0, "sqnr_db_min": 70.0}, "rtf 150 (goal >= 200)"),
}


@pytest.mark.parametrize("bench", sorted(MISSED))
def test_check_exits_9_naming_the_missed_goal(bench, monkeypatch, tmp_path, capsys):
    figures, words = MISSED[bench]
    _fake_benches(monkeypatch, tmp_path, {**GOOD, bench: figures})
    assert main(["bench", bench, "--json"]) == 0  # without --check: done, whatever the figures
    out = capsys.readouterr().out
    json.loads(out.strip().splitlines()[-1])
    assert main(["bench", bench, "--json", "--check"]) == GoalMissed.exit_code
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: bench {bench}: goal missed: ") and words in err[0], err
    json.loads(cap.out.strip().splitlines()[-1])  # the result still comes first, as the last stdout line


@pytest.mark.parametrize("bench", sorted(MISSED))
def test_check_passes_when_every_goal_is_met(bench, monkeypatch, tmp_path, capsys):
    _fake_benches(monkeypatch, tmp_path, GOOD)
    assert main(["bench", bench, "--check"]) == 0
    assert capsys.readouterr().err == ""


def test_bench_sim_check_with_an_impossible_goal(monkeypatch, capsys):
    """A real (short) `bench sim --check` against a goal no machine reaches."""
    import hardware_sim.cli

    monkeypatch.setattr(hardware_sim.cli, "SIM_GOALS", (Goal("adc_rtf", ">=", 1e12), Goal("fast_rtf", ">=", 0)))
    assert main(["bench", "sim", "--seconds", "0.3", "--check", "--json"]) == GoalMissed.exit_code
    cap = capsys.readouterr()
    last = json.loads(cap.out.strip().splitlines()[-1])
    assert last["adc_rtf"] > 0 and f"adc_rtf {last['adc_rtf']:g} (goal >= 1e+12)" in cap.err
    assert "fast_rtf" not in cap.err  # a met goal is not named


def test_check_help_lists_the_goals_as_docs_state_them():
    text = subprocess.run([sys.executable, "-m", "cardioradar", "bench", "edge", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120).stdout
    assert "peak_rss_mb <= 120 MB" in " ".join(text.split()) and "rtf >= 50" in text


# Outside */cli.py (and cardioradar/cliargs.py, the shared flag helpers) no module parses
# arguments. Known exceptions, each with its reason; the test fails when one goes, so the list shrinks.
ARGPARSE_ELSEWHERE = {
    "edge/runtime/bench.py": "the board-side replay's own `python -m edge.runtime.bench` entry (bench edge's child)",
}


def test_argparse_only_in_cli_modules():
    found = set()
    for pkg in ("cardioradar", "boards", "fixedpoint", "bundleformat", "edge", "hardware_sim", "quantize", "host"):
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if path.name == "cli.py" or rel == "cardioradar/cliargs.py":
                continue
            text = path.read_text()
            if "import argparse" in text or "from argparse" in text or ".add_argument(" in text:
                found.add(rel)
    assert found == set(ARGPARSE_ELSEWHERE), found ^ set(ARGPARSE_ELSEWHERE)


def _doc_table_flags() -> set[str]:
    """The flags named in the first column of docs/architecture.md's CLI vocabulary table."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## CLI vocabulary", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `--")]
    return {f for ln in rows for f in re.findall(r"`(--[a-z-]+)", ln.split(" | ")[0])}


def test_docs_table_matches_the_parser():
    used = {flag: len(ALL) for flag in visible(build_parser())}  # top level (--verbose): every command
    for p in ALL.values():
        for flag in visible(p):
            used[flag] = used.get(flag, 0) + 1
    table = _doc_table_flags()
    assert table - set(used) == set(), "in docs but in no command"
    shared = {f for f, n in used.items() if n >= 3 and f.startswith("--") and f not in ("--help", "--version")}
    assert shared - table == set(), "used by 3+ commands but not in the docs table"
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert "*to unify*" not in text and "| 9 | goal missed" in text


def test_single_file_commands_take_a_new_folder(ecg_session, tmp_path, capsys):
    """`module image --out DIR` and `export --out DIR` (DIR not there yet): the file goes into it
    under its default name."""
    for fmt, name in (("edf", "night.edf"), ("wfdb", "night.hea"), ("csv", "night.csv")):
        assert main(["export", str(ecg_session), "--format", fmt, "--out", str(tmp_path / fmt), "--json"]) == 0
        got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["out"]
        assert got == str(tmp_path / fmt / name) and Path(got).stat().st_size > 0
    assert main(["module", "image", "--out", str(tmp_path / "fw"), "--version", "2.0.0", "--payload-kib", "1",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert got["image"] == str(tmp_path / "fw" / "cardioradar-2.0.0.bin") and Path(got["image"]).stat().st_size > 0
