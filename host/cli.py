"""`cardioradar` sub-commands of the host tools: a table, one handler per command.

Each handler turns parsed arguments into one library call. Heavy imports (pyedflib,
wfdb, TensorFlow) happen inside handlers so `cardioradar --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from cardioradar.cliargs import add_json, add_mode, add_out, add_renamed, number, out_folder, out_path, \
    print_result, refuse_overwrite
from cardioradar.errors import ConfigError

log = logging.getLogger(__name__)

def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", help="session database (.db) from the board")
    p.add_argument("--format", required=True, choices=("edf", "wfdb", "csv"), dest="fmt")
    add_out(p, file="SESSION.edf", what="the export (.hea for wfdb, .csv for csv); default beside the session")
    add_json(p, '{"session", "format", "out"}')


_EXPORT_SUFFIX = {"edf": ".edf", "wfdb": ".hea", "csv": ".csv"}


def _run_export(args: argparse.Namespace) -> int:
    from host.export import export_session

    out = args.out and out_path(args.out, Path(args.session).stem + _EXPORT_SUFFIX[args.fmt])
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)  # --out a new folder
    out = export_session(args.session, args.fmt, out)
    return print_result(args, str(out), {"session": str(args.session), "format": args.fmt, "out": str(out)})


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", type=Path, help="session database (.db)")
    add_out(p, file="SESSION.png", what="the report (--overnight: SESSION_overnight.pdf); default beside the session")
    p.add_argument("--truth", type=Path, default=None,
                   help="truth .npz in session time (as `cardioradar demo` writes) for metrics")
    add_json(p, '{"report", metrics...}')
    p.add_argument("--overnight", action="store_true",
                   help="a multi-page PDF for a night: summary, hourly trends and 12-lead pages, events")
    p.add_argument("--paper", choices=("a4", "letter"), default="a4", help="--overnight page size (landscape)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --overnight PDF")


def _run_report(args: argparse.Namespace) -> int:
    if args.overnight:
        return _run_overnight(args)
    from host.report import make_report

    out, metrics = make_report(args.session, args.out and out_path(args.out, args.session.stem + ".png"), args.truth)
    m = metrics.as_dict() if metrics else {}
    return print_result(args, str(out) + (f"\n{metrics_line(m)}" if metrics else ""), {"report": str(out), **m})


def _run_overnight(args: argparse.Namespace) -> int:
    from host.overnight import make_overnight_report

    if args.truth is not None:
        raise ConfigError("--truth: not used with --overnight (metrics against a truth: the one-page report)")
    name = args.session.stem + "_overnight.pdf"
    out = out_path(args.out, name) if args.out is not None else args.session.with_name(name)
    refuse_overwrite([out], f"--out {out}", force=args.force)
    path, summary, n_pages = make_overnight_report(args.session, out, paper=args.paper)
    d = summary.as_dict()
    return print_result(args, f"{path}\n{n_pages} pages; {summary.duration_s / 3600:.2f} h, recorded "
                         f"{summary.recorded_s / 3600:.2f} h, HR median {summary.hr_bpm.median:.0f} bpm, "
                         f"AF burden {summary.af_burden:.1%}",
                   {"report": str(path), "pages": n_pages, "af_episodes": len(summary.af_episodes),
                    **{k: d[k] for k in ("duration_s", "recorded_s", "excluded_s", "missing_s", "af_burden",
                                         "n_beats")}})


def metrics_line(m: dict) -> str:
    """The metrics against the truth (`host.report.ReportMetrics.as_dict`) as one line."""
    def f(k, fmt):
        v = m.get(k)
        return "n/a" if v is None else format(v, fmt)

    return (f"vs truth: PCC median {f('pcc_median', '.3f')} (lead II {f('pcc_lead_ii_median', '.3f')}), "
            f"RMSE median {f('rmse_mv_median', '.3f')} mV, R-peak error {f('rpeak_err_ms_median', '.1f')} ms, "
            f"IBI error median {f('ibi_mae_ms_median', '.1f')} ms, MDR {f('mdr', '.3f')}, "
            f"HR error {f('hr_err_bpm_median', '.2f')} bpm, {m.get('n_windows')} clean windows")


def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=number("--seconds", ge=15, unit="s"), default=60.0,
                   help="session length (default 60 s; >= 15: DSP warm-up and whole windows)")
    add_out(p, default="cardioradar-demo", what="session.db, session.edf, truth.npz, report.png "
                                                "(refused if it holds an earlier demo, unless --force)")
    p.add_argument("--force", action="store_true", help="overwrite an earlier demo in --out")
    p.add_argument("--seed", type=int, default=1, help="seed of the virtual subject and module")
    p.add_argument("--subject", default="healthy-rest", help="subject preset (`cardioradar sim subjects`)")
    p.add_argument("--model", type=Path, default=None, help="model .tflite (default: the shipped model)")
    add_mode(p)
    add_renamed(p, "--fast", "--mode", dest="mode", value="fast")
    add_json(p, "{session, edf, report, pcc_median, rmse_mv_median, ...}")


def _run_demo(args: argparse.Namespace) -> int:
    from host.demo import DEMO_OUTPUTS, run_demo

    refuse_overwrite([out_folder(args.out) / n for n in DEMO_OUTPUTS], f"--out {args.out}", force=args.force)
    d = run_demo(args.out, args.seconds, seed=args.seed, subject=args.subject, model=args.model,
                 mode=args.mode).as_dict()
    return print_result(args, f"session {d['session']}\nEDF+    {d['edf']}\nreport  {d['report']}\n"
                         f"frames  {d['frames_received']} received, {d['frames_lost']} lost\n{metrics_line(d)}", d)


def _add_eval(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group()
    who.add_argument("--model", default=None, help="model (.tflite + metadata, or .keras); default: the board's shipped model")
    who.add_argument("--baseline", action="store_true", help="score the model-free template baseline instead")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--subjects", type=int, default=None, help="simulated held-out subjects (default 10)")
    src.add_argument("--drive-ecg", nargs="+", default=None, metavar="PATH",
                     help="ECG recordings or folders of them: one simulated subject driven by each")
    src.add_argument("--session", default=None, help="session .db, frames.bin or sim recording folder (its board)")
    src.add_argument("--data", default=None, help="dataset folder: evaluate on its test split")
    add_renamed(src, "--dataset", "--data", dest="data")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds per simulated subject")
    p.add_argument("--seed", type=int, default=1000, help="population seed (must differ from the training seed)")
    p.add_argument("--ref-ecg", default=None, help="reference ECG of --session (EDF, WFDB, CSV)")
    p.add_argument("--ref-offset-s", type=float, default=None, help="session time of the reference's first sample")
    p.add_argument("--snr-db", type=float, default=None,
                   help="white noise at this SNR (where: --noise-on; docs/evaluation.md)")
    p.add_argument("--bursts", type=float, default=None, metavar="SECONDS", help="noise bursts of this length on 20 %% of segments")
    p.add_argument("--burst-db", type=float, default=0.0, help="burst SNR (0 mild, -9 extensive)")
    p.add_argument("--noise-on", choices=("paper", "frames"), default="paper",
                   help="paper: the demodulated voxel signal (phase, I, Q) against its power without breathing; "
                        "frames: the raw frames against the subject's echo")
    p.add_argument("--workers", type=int, default=1, help="processes for simulation")
    add_json(p, "(the summary)")


def _run_eval(args: argparse.Namespace) -> int:
    from host.eval import EvalRequest, run_eval

    result = run_eval(EvalRequest(
        model=args.model, baseline=args.baseline, subjects=args.subjects, seconds=args.seconds, seed=args.seed, drive_ecg=args.drive_ecg,
        session=args.session, ref_ecg=args.ref_ecg, ref_offset_s=args.ref_offset_s, dataset=args.data,
        snr_db=args.snr_db, burst_s=args.bursts, burst_db=args.burst_db, noise_on=args.noise_on,
        workers=args.workers))
    print(result.format_tables())
    if args.json:
        print(result.to_json())
    return 0


def _add_data(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build a dataset folder (train/val/test split by subject)")
    add_out(b, required=True, what="the dataset")
    src = b.add_mutually_exclusive_group()
    src.add_argument("--subjects", type=int, default=None, help="simulated subjects (default 20)")
    src.add_argument("--mmecg", default=None, help="folder of MMECG .mat trials")
    src.add_argument("--session", action="append", default=None, help="session .db / frames.bin (repeat)")
    b.add_argument("--ref-ecg", action="append", default=None, help="reference ECG per --session, same order")
    b.add_argument("--subject", action="append", default=None, help="subject name per --session (split key)")
    b.add_argument("--seconds", type=float, default=60.0, help="seconds per simulated subject")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--workers", type=int, default=2, help="processes (with --address: Ray tasks in flight)")
    b.add_argument("--address", default=None,
                   help="simulate the subjects as Ray tasks on this cluster ('local': a Ray on this machine)")
    b.add_argument("--val-frac", type=float, default=0.15)
    b.add_argument("--test-frac", type=float, default=0.15)
    b.add_argument("--shard-windows", type=int, default=2048,
                   help="windows per shard file of a simulated split (training streams the shards)")
    b.add_argument("--learned", type=int, default=0,
                   help="more simulated subjects whose hearts follow learned 12-lead morphologies (deepfake-ecg)")
    add_json(b, '{"dataset", "source", "windows": {split: n}}')


def _run_data(args: argparse.Namespace) -> int:
    from host.data.build import build_from_args
    from host.data.format import read_manifest

    out_folder(args.out)
    if getattr(args, "address", None):  # same bytes as without: see host.data.sim_dataset.iter_population
        from host.scale import cluster

        with cluster(args.address, args.workers):
            out = build_from_args(args)
    else:
        out = build_from_args(args)
    m = read_manifest(out)
    windows = {k: v.get("n_windows") for k, v in m.get("splits", {}).items()}
    return print_result(args, str(out), {"dataset": str(out), "source": m.get("source"), "windows": windows})


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder (train/val/test.npz + manifest.json)")
    add_out(p, required=True, what="the run: model.keras, history.json, checkpoint/ (resumes)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--mtl", default="ega", choices=("ega", "equal", "uncertainty", "aligned"))
    p.add_argument("--temperature", type=float, default=1.0, help="EGA temperature T")
    p.add_argument("--warmup-epochs", type=int, default=4, help="EGA warm-up epoch t_warm")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prior", action="store_true", help="CardioRadar's ECG prior: a VQ-VAE on the training ECG, latent alignment loss")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out holds a checkpoint")
    p.add_argument("--workers", type=int, default=None,
                   help="data-parallel on Ray: workers sharing each batch (without --address: a local Ray)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (what `ray start --head` prints); default with --workers: a local Ray")
    add_json(p, '{"model", "best_epoch", "best_val_loss"}')


def _run_train(args: argparse.Namespace) -> int:
    kw = dict(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, mtl=args.mtl, T=args.temperature,
              warmup_epochs=args.warmup_epochs, lr=args.lr, resume=not args.no_resume, prior=args.prior)
    if args.workers is not None or args.address:  # docs/scale-out.md
        from host.scale.train import train_on_ray

        r = train_on_ray(args.data, out_folder(args.out), address=args.address, workers=args.workers, **kw)
    else:
        from host.train import train

        r = train(args.data, out_folder(args.out), **kw)
    return print_result(args, f"{r.model_path} (best epoch {r.best_epoch}, validation loss {r.best_val_loss:.4f})",
                   {"model": str(r.model_path), "best_epoch": r.best_epoch, "best_val_loss": r.best_val_loss})


def _add_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx", help="ONNX model, input (1, 12, 512) NCW: channel v*3 + c of the (512, 4, 3) window")
    add_out(p, required=True, what="the float32 / int8 .tflite + metadata")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset folder: calibration windows from its train split")
    src.add_argument("--calib", help=".npy int16 Q15 or float windows (N, 512, 4, 3)")
    p.add_argument("--n-calib", type=int, default=64)
    add_json(p, '{"float", "int8"} (the .tflite paths)')


def _run_convert(args: argparse.Namespace) -> int:
    from host.convert import convert_onnx

    r = convert_onnx(args.onnx, out_folder(args.out), args.calib or args.data, n_calib=args.n_calib)
    return print_result(args, f"{r.float_path}\n{r.int8_path}", {"float": str(r.float_path), "int8": str(r.int8_path)})


# name -> (help, add arguments, handler). Add host commands here.
COMMANDS = {
    "export": ("export a session to EDF+, WFDB or CSV", _add_export, _run_export),
    "keys": ("signing keys for firmware bundles", lambda p: _bundle_cli().add_keys(p),
             lambda a: _bundle_cli().run_keys(a)),
    "bundle": ("build / verify signed firmware bundles", lambda p: _bundle_cli().add_bundle(p),
               lambda a: _bundle_cli().run_bundle(a)),
    "eval": ("evaluate a model on held-out subjects, clean or with noise", _add_eval, _run_eval),
    "train": ("train the multi-task model (EGA / aligned / uncertainty / equal), seeded and resumable",
              _add_train, _run_train),
    "convert": ("ONNX model -> float32 and int8 TFLite via onnx2tf, checked against onnxruntime",
                _add_convert, _run_convert),
    "data": ("datasets: build train/val/test folders from the simulator, sessions or MMECG", _add_data, _run_data),
    "report": ("a session's report PNG (12 leads on the ECG grid, HR trend, quality, metrics); "
               "--overnight: a multi-page PDF for a night", _add_report,
               _run_report),
    "demo": ("simulator + edge runtime over ptys: session, EDF+, report, metrics vs truth", _add_demo, _run_demo),
    "flash": ("flash a signed bundle to the board agent: resume, verify, activate, wait for confirm",
              lambda p: _board_cli().add_flash_args(p), lambda a: _board_cli().flash_cmd(a)),
    "fleet": ("a fleet's archived nights through the board runtime with a new model, on Ray (resumable)",
              lambda p: _scale_cli().add_fleet_args(p), lambda a: _scale_cli().run_fleet(a)),
    "board": ("the board agent: board status", lambda p: _board_cli().add_board_args(p),
              lambda a: _board_cli().board_cmd(a)),
    "pull": ("pull sessions from the board agent (resumable, SHA-256 checked, also live ones)",
             lambda p: _board_cli().add_pull_args(p), lambda a: _board_cli().pull_cmd(a)),
    "module": ("the radar module's firmware: flash a meta image over its ROM bootloader (flashing mode, SOP2), "
               "build a simulated image, ask its version", lambda p: _module_cli().add_module_args(p),
               lambda a: _module_cli().run_module(a)),
}


def _module_cli():
    from host.module import cli

    return cli


def _board_cli():
    from host.board import cli

    return cli


def _scale_cli():
    from host.scale import cli

    return cli


def register_bench(bench) -> None:
    from host.bench.cli import add_bench_edge, add_bench_flash, add_bench_pull

    add_bench_edge(bench)  # `bench edge`
    add_bench_flash(bench)  # `bench flash`
    _scale_cli().add_bench_fleet(bench)  # `bench fleet`
    add_bench_pull(bench)  # `bench pull`
    from host.paper.cli import add_bench_paper  # `bench paper`

    add_bench_paper(bench)


def _bundle_cli():
    # host.bundle needs cryptography (the host/edge extras): imported only when used.
    from host.bundle import cli

    return cli


def _missing(e: ModuleNotFoundError):
    def run(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError(str(e), name=e.name)  # cardioradar.cli names the extra

    return run


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        try:
            add_args(p)
        except ModuleNotFoundError as e:
            # Core install (no host extra): the command stays listed and says what it needs when run.
            p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            p.set_defaults(func=_missing(e))
            continue
        p.set_defaults(func=handler)
    _add_quantize_model(sub)
    import host.cable  # noqa: F401 -- registers cable:// with pyserial: every --port takes it


def _add_quantize_model(sub: argparse._SubParsersAction) -> None:
    """`quantize model` under quantize.cli's `quantize` (its report needs the host's dataset
    reader, scorer and MAC counter, and quantize imports nothing of host)."""
    if "quantize" not in sub.choices:  # an install without quantize
        return
    q = sub.choices["quantize"]
    s = next(a for a in q._actions if isinstance(a, argparse._SubParsersAction))
    m = s.add_parser("model", help="full-integer int8 TFLite of a Keras model + metadata + float-vs-int8 report")
    m.add_argument("--keras", required=True, help="model.keras from `cardioradar train`")
    m.add_argument("--data", required=True, help="dataset folder (calibration: train split; report: test split)")
    add_out(m, file="model_int8.tflite", required=True, what="the int8 model (its metadata beside it as .json)")
    m.add_argument("--n-calib", type=int, default=256, help="representative windows from the train split")
    m.add_argument("--seed", type=int, default=0, help="seed of the representative windows' choice")
    add_json(m, '{"model", "float", "int8"} (their metrics)')
    m.set_defaults(func=_quantize_model)


def _quantize_model(args: argparse.Namespace) -> int:
    from host.ptqreport import quantize_model

    out = quantize_model(args.keras, args.data, out_path(args.out, "model_int8.tflite"), n_calib=args.n_calib, seed=args.seed)
    meta = json.loads(out.with_suffix(".json").read_text())["metrics"]
    return print_result(args, f"{out}\nfloat: {json.dumps(meta['float'])}\nint8:  {json.dumps(meta['int8'])}",
                   {"model": str(out), "float": meta["float"], "int8": meta["int8"]})
