"""``pmsync.sandbox.generate``: the scenario generator's public entry points.

The generator lives in the ``pmsync.sandbox.generator`` subpackage (one module per
tool); this module is the stable import path the CLI uses.
"""

from __future__ import annotations

from pmsync.sandbox.generator import generate, main_generate, summarize

__all__ = ["generate", "main_generate", "summarize"]
