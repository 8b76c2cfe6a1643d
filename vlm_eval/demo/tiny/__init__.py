"""Tiny randomly initialised checkpoints of each supported model family, built offline from
configs and saved to disk, for the demo, the tests and the GPU check."""
