"""The board runtime: link -> dsp -> infer -> post -> store, plus the update agent."""
