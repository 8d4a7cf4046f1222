"""``cardioradar data build``: one entry point over the three dataset builders."""

from __future__ import annotations

from pathlib import Path

from cardioradar.errors import ConfigError


def build_from_args(args) -> Path:
    """``args``: the parsed ``data build`` arguments (see ``host.cli``). Returns the folder."""
    if args.mmecg:
        from host.data.mmecg import build_mmecg_dataset

        return build_mmecg_dataset(args.mmecg, args.out, args.seed, args.val_frac, args.test_frac)
    if args.session:
        from host.data.session_dataset import SessionSource, build_session_dataset

        refs = args.ref_ecg or []
        names = args.subject or [Path(s).stem for s in args.session]
        if len(refs) != len(args.session) or len(names) != len(args.session):
            raise ConfigError(f"--session x{len(args.session)}: expected as many --ref-ecg (got {len(refs)}) "
                              f"and --subject (got {len(names)}, or none)")
        sources = [SessionSource(Path(s), Path(r), n) for s, r, n in zip(args.session, refs, names)]
        return build_session_dataset(sources, args.out, args.seed, args.val_frac, args.test_frac)
    from host.data.sim_dataset import build_sim_dataset

    return build_sim_dataset(args.out, args.subjects if args.subjects is not None else 20, args.seconds, args.seed,
                             args.workers, args.val_frac, args.test_frac,
                             windows_per_shard=getattr(args, "shard_windows", 2048),
                             n_learned=getattr(args, "learned", 0))
