"""The bundled demo: a tiny checkpoint and mini splits in the official formats."""
