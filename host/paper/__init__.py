"""`cardioradar bench paper`: the seed papers' tables on our pipeline (see ``host.paper.bench``)."""

from host.paper.bench import FULL, QUICK, PaperConfig, run_paper_bench

__all__ = ["FULL", "QUICK", "PaperConfig", "run_paper_bench"]
