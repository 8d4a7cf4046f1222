"""Benchmarks run on the host: `bench edge` (records, then replays on the board runtime in a child
process), `bench flash` (a bundle over a paced pty cable to an agent)."""
