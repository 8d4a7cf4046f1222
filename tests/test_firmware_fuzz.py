"""The config CLI never dies: each input of issue 13 is refused with an ``Error`` naming the
argument and its range, and any byte string gets an answer and a prompt, after which a good
line still works (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boards import load_profile
from boards.radarcfg import ARG_RANGES, COMMAND_ARGC, parse_cfg_text
from cardioradar.errors import ConfigError
from hardware_sim.firmware.cli import PROMPT, CliCode, ConfigCli
from hardware_sim.firmware.module import RadarModule
from hardware_sim.firmware.testsource import PointTargetSource

P = PROMPT.encode()
GOOD_CFG = (
    "sensorStop\nflushCfg\ndfeDataOutputMode 1\nchannelCfg 15 7 0\nadcCfg 2 1\n"
    "profileCfg 0 60 10 6 60 0 0 65 1 256 4800 0 0 30\nchirpCfg 0 0 0 0 0 0 0 1\n"
    "chirpCfg 1 1 0 0 0 0 0 4\nchirpCfg 2 2 0 0 0 0 0 2\nframeCfg 0 2 1 0 10 1 0\n"
    "guiMonitor -1 0 0 0 1 0 1\n"
)
SIM_CFG = load_profile("sim").cfg_path.read_text()
PROFILE = "profileCfg 0 60 10 6 60 0 0 65 1 256 4800 0 0 30".split()


def _answer(cli: ConfigCli, line: str) -> str:
    text = cli.execute(line).text.decode()
    assert text.endswith(PROMPT)
    return text[len(line.strip("\r\n")) + 2: -len(PROMPT)]


def _still_works(cli: ConfigCli) -> None:
    assert _answer(cli, "channelCfg 15 5 0") == "Done\r\n"
    assert cli.cfg.channel.tx_mask == 5


def _profile_with(index: int, value: str) -> str:
    words = list(PROFILE)
    words[index + 1] = value
    return " ".join(words)


# Each failing input of issue 13's "Why", with the argument and range the answer must name.
ISSUE_INPUTS = [
    ("channelCfg 15 7 nan", "channelCfg cascading: got nan, expected 0-2"),
    ("channelCfg 15 7 inf", "channelCfg cascading: got inf, expected 0-2"),
    ("frameCfg 0 2 1 nan 10 1 0", "frameCfg numFrames: got nan, expected 0-65535"),
    ("frameCfg 0 2 1 0 inf 1 0", "frameCfg framePeriodicity: got inf, expected 0.3-1342.18 ms"),
    ("frameCfg 0 2 1 0 10 1 nan", "frameCfg frameTriggerDelay: got nan, expected 0-100 ms"),
    ("frameCfg 0 2 1 0 1e30 1 0", "frameCfg framePeriodicity: got 1e30, expected 0.3-1342.18 ms"),
    (_profile_with(1, "nan"), "profileCfg startFreq: got nan, expected 57-64 GHz"),
    (_profile_with(2, "-5"), "profileCfg idleTime: got -5, expected 0-5242.87 us"),
]


@pytest.mark.parametrize("line, message", ISSUE_INPUTS)
def test_issue_inputs_are_refused_naming_argument_and_range(line, message):
    cli = ConfigCli()
    cli.apply_text(GOOD_CFG)
    before = cli.cfg
    assert _answer(cli, line) == f"Error: {message}\r\nError {int(CliCode.HANDLER)}\r\n"
    assert cli.cfg == before  # nothing of the refused command was applied
    _still_works(cli)
    # The edge's own check refuses the same line with the same words.
    with pytest.raises(ConfigError, match=message.split(":")[0]):
        parse_cfg_text(GOOD_CFG + line + "\n", source="x.cfg")


def test_every_range_bound_is_inclusive_and_finite():
    for name, ranges in ARG_RANGES.items():
        assert len(ranges) <= COMMAND_ARGC[name], name
        for r in ranges:
            assert math.isfinite(r.lo) and math.isfinite(r.hi) and r.lo <= r.hi, (name, r)


def test_version_names_platform_sdk_and_firmware():
    cli = ConfigCli()
    text = _answer(cli, "version")
    assert text.startswith("Platform                : xWR68xx\r\nmmWave SDK Version      : 03.05.00.04\r\n")
    assert "Firmware                : CardioRadar range-matrix firmware" in text and text.endswith("Done\r\n")
    aop = ConfigCli(banner="xWR64xx MMW Demo 03.05.00.04")
    assert _answer(aop, "version").startswith("Platform                : xWR64xx")


def test_adv_frame_cfg_takes_the_sdks_five_arguments():
    cli = ConfigCli()
    assert _answer(cli, "advFrameCfg 2 0 0 1 0") == "Done\r\n"
    assert _answer(cli, "advFrameCfg 2 0 0 1").startswith("Error: Invalid usage of the CLI command")


def test_tab_separated_line_is_one_word_for_module_and_edge():
    """The device splits on spaces, CR and LF only (SDK cli.c): module and edge agree."""
    cli = ConfigCli()
    assert _answer(cli, "channelCfg\t15\t7\t0") == "'channelCfg\t15\t7\t0' is not recognized as a CLI command\r\n"
    assert cli.cfg.channel is None
    with pytest.raises(ConfigError, match=r"x.cfg:2: a tab .* spaces only"):
        parse_cfg_text("flushCfg\nchannelCfg\t15\t7\t0\n", source="x.cfg")
    assert _answer(cli, "channelCfg 15 7 0\t").startswith("Error: channelCfg cascading: '0\\t' is not a number")
    with pytest.raises(ConfigError, match="x.cfg:1: a tab"):
        parse_cfg_text("channelCfg 15 7 0\t\n", source="x.cfg")


def test_edge_check_refuses_a_line_the_module_would_cut():
    with pytest.raises(ConfigError, match=r"x.cfg:1: line of 300 bytes, expected at most 255"):
        parse_cfg_text("% " + "x" * 298 + "\n", source="x.cfg")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_any_bytes_get_answers_and_prompts_then_a_good_line_works(data):
    cli = ConfigCli(start_check=lambda cfg: None)
    cli.apply_text(GOOD_CFG)
    assert all(r.text.endswith(P) for r in cli.feed(data))
    replies = cli.feed(b"\nsensorStop\n")  # ends a partial line, then a good command
    assert replies and all(r.text.endswith(P) for r in replies)
    assert replies[-1].text.startswith(b"sensorStop\r\n") and replies[-1].text.endswith(b"Done\r\n" + P)
    _still_works(cli)


COMMANDS = sorted(COMMAND_ARGC)
NUMBERS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e30", "-1e30", "1e-30", "0", "-1", "0x10", "", "1.5", "65536"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-2**40, 2**40).map(str),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(COMMANDS), st.data())
def test_any_numbers_for_any_command_never_kill_the_cli(name, data):
    """Right argument count, any numbers: an answer and a prompt; the module's state stays
    usable, and sensorStart either starts or is refused with an Error."""
    args = [data.draw(NUMBERS) for _ in range(COMMAND_ARGC[name])]
    cli = ConfigCli(start_check=lambda cfg: None)
    cli.apply_text(GOOD_CFG)
    line = " ".join([name] + [a for a in args if a])
    text = cli.execute(line).text
    assert text.endswith(P)
    start = cli.execute("sensorStart").text
    assert start.endswith(P) and (b"Done" in start or b"Error" in start)
    cli.execute("sensorStop")
    _still_works(cli)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=4))
def test_module_any_config_bytes_then_a_good_cfg_streams(chunks):
    """The whole module (CLI + frame clock): any bytes on the config UART, then the board's
    .cfg: the sensor starts and makes frames."""
    module = RadarModule(load_profile("sim"), None, seed=1,
                         front_end_factory=lambda r, a: PointTargetSource(r, a))
    for chunk in chunks:
        out_cfg, _ = module.config_input(chunk)
        assert out_cfg == b"" or out_cfg.endswith(P)
    module.config_input(b"\nsensorStop\n")
    out_cfg, _ = module.run_cfg_text(SIM_CFG)
    assert out_cfg.endswith(b"sensorStart\r\nDone\r\n" + P), out_cfg[-200:]
    frames = [module.next_frame() for _ in range(3)]
    assert [f.frame_number for f in frames] == [1, 2, 3]
