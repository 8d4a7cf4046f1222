"""edge.link.configure / transport: a .cfg sent over a real pty, and the errors that name the problem."""

import os
import select
from pathlib import Path

import numpy as np
import pytest

from boards import load_profile
from cardioradar.errors import DeviceError, DeviceTimeout, TransportError
from cardioradar.ptys import open_pty
from edge.link.configure import send_cfg, send_cfg_text
from edge.link.transport import open_port
from hardware_sim.firmware.cli import ConfigCli
from hardware_sim.firmware.tlv import RangeWindow, encode_frame
from sim_rig import LoopThread

CFG = load_profile("sim").cfg_path


class PtyDevice(LoopThread):
    """The far end of a pty: ``respond(bytes) -> bytes`` runs on every chunk received."""

    def __init__(self, respond, greeting: bytes = b""):
        pair = open_pty(blocking_master=True)
        self.master, self.slave, self.path = pair.master, pair.slave, pair.path
        self._respond = respond
        if greeting:
            os.write(self.master, greeting)
        super().__init__()

    def _run(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                continue
            out = self._respond(data)
            if out:
                os.write(self.master, out)

    def _release(self):
        os.close(self.master)
        os.close(self.slave)


def cli_device(cli: ConfigCli) -> PtyDevice:
    return PtyDevice(lambda data: b"".join(r.text for r in cli.feed(data)), greeting=cli.banner())


def test_cfg_sent_to_the_simulated_cli_over_a_pty():
    cli = ConfigCli()
    with cli_device(cli) as dev:
        port = open_port(dev.path, 115200)
        try:
            result = send_cfg(port, CFG)
        finally:
            port.close()
    commands = [ln.strip() for ln in CFG.read_text().splitlines() if ln.strip() and not ln.startswith("%")]
    assert [a.command for a in result.answers] == commands
    assert all(a.answer[-1] == "Done" for a in result.answers)
    assert cli.running and cli.cfg.range_sel.num_bins == 15


def test_refused_line_names_file_line_command_and_answer(tmp_path):
    bad = tmp_path / "bad.cfg"
    lines = CFG.read_text().splitlines()
    n = next(i for i, ln in enumerate(lines) if ln.startswith("profileCfg"))
    lines[n] = "profileCfg 0 60 7 3"  # 4 of 14 arguments
    bad.write_text("\n".join(lines) + "\n")
    with cli_device(ConfigCli()) as dev:
        port = open_port(dev.path, 115200)
        with pytest.raises(DeviceError) as e:
            send_cfg(port, bad)
        port.close()
    msg = str(e.value)
    assert f"{bad}:{n + 1}:" in msg and "'profileCfg 0 60 7 3'" in msg
    assert "Invalid usage of the CLI command" in msg and "Error -1" in msg
    assert dev.path in msg and "arguments" in e.value.hint


def test_unknown_command_and_refused_start():
    cli = ConfigCli()
    with cli_device(cli) as dev:
        port = open_port(dev.path, 115200)
        with pytest.raises(DeviceError, match=r"<cfg>:2: .*'fooCfg 1'.*not recognized") as e:
            send_cfg_text(port, "sensorStop\nfooCfg 1\n")
        assert "firmware does not know" in e.value.hint
        # sensorStart with nothing configured: the device's own reason is in the message.
        with pytest.raises(DeviceError, match=r"x.cfg:1: .*'sensorStart'.*Error -10"):
            send_cfg_text(port, "sensorStart\n", source="x.cfg")
        port.close()


def test_silent_port_says_it_answered_nothing():
    with PtyDevice(lambda data: b"") as dev:
        port = open_port(dev.path, 115200)
        with pytest.raises(DeviceTimeout) as e:
            send_cfg(port, CFG, line_timeout_s=0.3)
        port.close()
    assert "answered nothing" in str(e.value) and "sensorStop" in str(e.value)
    assert f"{CFG}:7" in str(e.value)
    assert "wrong port" in e.value.hint and "baud" in e.value.hint and "powered" in e.value.hint


def test_data_port_given_as_config_port_is_recognised():
    rng = np.random.default_rng(0)
    hm = np.zeros((15, 12, 2), np.int16)
    frame = encode_frame(frame_number=1, time_cpu_cycles=0, pad_rng=rng, heatmap=hm,
                         range_window=RangeWindow(0, 15, 12, 0.04))
    # A streaming data port: whatever is written to it, frames keep coming.
    with PtyDevice(lambda data: frame, greeting=frame) as dev:
        port = open_port(dev.path, 115200)
        with pytest.raises(TransportError) as e:
            send_cfg(port, CFG, line_timeout_s=0.5)
        port.close()
    assert "looks like the module's data port" in str(e.value) and dev.path in str(e.value)
    assert "swap" in e.value.hint


def test_wrong_baud_rate_noise_is_not_taken_for_answers():
    noise = bytes(range(128, 256))  # what a UART at the wrong rate makes of text
    with PtyDevice(lambda data: noise) as dev:
        port = open_port(dev.path, 115200)
        with pytest.raises(TransportError, match="non-text bytes") as e:
            send_cfg_text(port, "sensorStop\n", line_timeout_s=0.5)
        port.close()
    assert "115200" in e.value.hint


def test_echo_without_an_answer_times_out_with_what_it_got():
    port = open_port("loop://", 115200)  # the loop echoes the command and nothing else
    with pytest.raises(DeviceTimeout, match=r"no final answer to 'sensorStop'"):
        send_cfg_text(port, "sensorStop\n", line_timeout_s=0.2)
    port.close()


def test_open_errors_name_the_port_and_give_a_hint(tmp_path):
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(TransportError, match="ttyUSB9") as e:
        open_port(missing, 921600)
    assert "plugged in" in e.value.hint
    with pytest.raises(TransportError, match="socket://127.0.0.1:1") as e:
        open_port("socket://127.0.0.1:1", 921600)
    assert "simulator" in e.value.hint


def test_dtr_rts_levels_are_set_before_open():
    port = open_port("loop://", 921600, dtr=False, rts=False)
    assert port._port.dtr is False and port._port.rts is False
    port.close()
    port = open_port("loop://", 921600)
    assert port._port.dtr is True  # pyserial's default when the profile says nothing
    port.close()
