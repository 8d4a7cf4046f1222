"""The hardware lane: the link checks a real module must pass, through the project's own link
code (edge.link). Run on a module: ``pytest --port /dev/ttyUSB0 --data-port /dev/ttyUSB1 -m hardware``
(skipped with that reason otherwise). The same bodies run by default against the simulated
module on ptys (``test_lane_against_the_simulated_module``), so the lane's code is exercised in CI.
"""

from __future__ import annotations

import time

import pytest

from boards import load_profile
from edge.link import DecoderConfig, FrameDecoder, FrameReader, RadarFrame, ReaderConfig, open_port, send_cfg
from edge.link.configure import send_cfg_text
from edge.link.types import LinkEvent

HARDWARE_BOARD = "rpi4-iwr6843isk"  # the IWR6843ISK on its carrier: the module this lane was written for
N_FRAMES = 60
READER = ReaderConfig(silence_s=10.0)  # sending the .cfg takes a while: no "silent port" before it


def check_config(config_url: str, profile) -> None:
    """``version`` and every command of the board's .cfg are answered ``Done``."""
    port = open_port(config_url, profile.ports.config_baud)
    try:
        version = send_cfg_text(port, "version\n", source="version").answers[0].answer
        assert version[-1] == "Done" and any("SDK" in line for line in version), version
        result = send_cfg(port, profile.cfg_path)
    finally:
        port.close()
    commands = [ln.strip() for ln in profile.cfg_path.read_text().splitlines()
                if ln.strip() and not ln.startswith("%")]
    assert [a.command for a in result.answers] == [" ".join(c.split()) for c in commands]
    bad = [(a.command, a.answer) for a in result.answers if a.answer[-1] != "Done"]
    assert not bad, bad


def stop_sensor(config_url: str, profile) -> None:
    """Leave the module as the lane found it: not streaming (old frames would precede the next test's)."""
    port = open_port(config_url, profile.ports.config_baud)
    try:
        send_cfg_text(port, "sensorStop\n", source="stop")
    finally:
        port.close()


def check_frames(config_url: str, data_url: str, profile) -> None:
    """The .cfg sent (``check_config``), then N_FRAMES frames decoded in order from the data
    port with no link event (drop, disconnect, overflow) among them; the sensor stopped after."""
    decoder = FrameDecoder(DecoderConfig.from_profile(profile))
    # Reader first, then the config: no frame is missed from the first one on.
    with FrameReader(lambda: open_port(data_url, profile.ports.data_baud), decoder, READER) as reader:
        check_config(config_url, profile)
        try:
            items, deadline = [], time.monotonic() + 10.0
            while sum(isinstance(i, RadarFrame) for i in items) < N_FRAMES and time.monotonic() < deadline:
                item = reader.get(0.1)
                if item is not None:
                    items.append(item)
        finally:
            stop_sensor(config_url, profile)
    numbers = [i.frame_number for i in items if isinstance(i, RadarFrame)]
    assert len(numbers) >= N_FRAMES, f"{len(numbers)} frames in 10 s; items: {items[:5]}"
    numbers = numbers[:N_FRAMES]
    assert numbers == list(range(numbers[0], numbers[0] + N_FRAMES)), numbers
    assert [i for i in items if isinstance(i, LinkEvent)] == []


@pytest.mark.hardware
def test_real_module_config_cli_answers_version_and_cfg(hardware_ports):
    profile = load_profile(HARDWARE_BOARD)
    try:
        check_config(hardware_ports.config, profile)
    finally:
        stop_sensor(hardware_ports.config, profile)


@pytest.mark.hardware
def test_real_module_streams_frames_in_order(hardware_ports):
    if not hardware_ports.data:
        pytest.skip("needs the module's data UART too: --data-port /dev/ttyUSB1")
    check_frames(hardware_ports.config, hardware_ports.data, load_profile(HARDWARE_BOARD))


def test_lane_against_the_simulated_module(sim_module):
    check_frames(sim_module.ports.config, sim_module.ports.data, load_profile("sim"))
