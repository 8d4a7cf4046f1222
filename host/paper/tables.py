"""Tables (Markdown + CSV) and the Fig. 8-style plots of `bench paper`."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Table:
    """``rows``: one list of cells per row, cells already numbers or text; ``note``: the
    definitions under the Markdown table (not in the CSV)."""

    name: str  # file stem
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    note: str = ""

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "| " + " | ".join("---" for _ in self.columns) + " |"]
        lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path, markdown: bool = True) -> tuple[Path, Path]:
        md, cs = out_dir / f"{self.name}.md", out_dir / f"{self.name}.csv"
        if markdown:
            md.write_text(self.markdown())
        with cs.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            w.writerows([["" if _missing(c) else c for c in r] for r in self.rows])
        return md, cs


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def _cell(x) -> str:
    if _missing(x):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.0f}"
    return str(x)


def fig8(out_dir: Path, const: dict, bursts: dict, paper_const: dict, paper_others: dict,
         paper_bursts: dict) -> tuple[Path, Path]:
    """radarODE-MTL Fig. 8: (a) dm% vs constant-noise SNR, (b) dm% vs burst length at 0 and
    -9 dB. ``const``: definition -> {snr_db: dm%}; ``bursts``: definition -> {(db, s): dm%};
    ``paper_*``: the paper's curves. A clean point (0 %) starts every curve, as in the paper."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = sorted({k for d in const.values() for k in d} | set(paper_const), reverse=True)
    xs = list(range(len(levels) + 1))
    labels = ["clean"] + [f"{v:g}" for v in levels]

    def curve(d):
        return [0.0] + [d.get(v, math.nan) if d.get(v) is not None else math.nan for v in levels]

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, d in const.items():
        ax.plot(xs, curve(d), "o-", lw=2, label=f"ours ({name} noise)")
    ax.plot(xs, curve(paper_const), "s--", color="k", label="radarODE-MTL (paper)")
    for name, d in paper_others.items():
        ax.plot(xs, curve(d), ":", marker="x", label=f"{name} (paper)")
    ax.set(xticks=xs, xticklabels=labels, xlabel="constant noise SNR (dB)", ylabel="dm% vs clean",
           title="(a) constant noise")
    fa = _save_panel(plt, fig, ax, out_dir / "fig8a_dm_vs_snr.png")

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    secs = sorted({s for d in bursts.values() for _, s in d} | {s for _, s in paper_bursts})
    bx = [0.0] + secs
    for i, (name, d) in enumerate(bursts.items()):  # one colour per definition, as in panel (a)
        for db, style in ((0.0, "o-"), (-9.0, "^-.")):
            ax.plot(bx, [0.0] + [_num(d.get((db, s))) for s in secs], style, color=f"C{i}", lw=2,
                    label=f"ours ({name} noise) {db:g} dB")
    for db, style in ((0.0, "s--"), (-9.0, "v--")):
        ax.plot(bx, [0.0] + [_num(paper_bursts.get((db, s))) for s in secs], style, color="k" if db == 0 else "0.4",
                label=f"radarODE-MTL (paper) {db:g} dB")
    ax.set(xticks=bx, xlabel="burst length (s), 20 % of segments", ylabel="dm% vs clean",
           title="(b) abrupt noise (0 dB mild, -9 dB extensive)")
    fb = _save_panel(plt, fig, ax, out_dir / "fig8b_dm_vs_burst.png")
    return fa, fb


def _save_panel(plt, fig, ax, path):
    """Both Fig. 8 panels end alike: zero line, grid, legend, written as PNG."""
    ax.axhline(0, color="0.7", lw=0.8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _num(x) -> float:
    return math.nan if x is None else float(x)
