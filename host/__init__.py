"""Workstation tools: datasets, training, evaluation, conversion, bundles, flashing, export, reports."""
