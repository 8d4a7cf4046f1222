"""`cardioradar bench paper`: the seed papers' tables on our pipeline (see ``host.paper.bench``).

Nothing is imported here: the CLI builds its parser from ``host.paper.cli`` on every command,
and ``host.paper.bench`` pulls in the evaluation stack (TensorFlow-free but heavy, and scipy)."""
