"""Named defaults, in one place."""

from __future__ import annotations

#: Sample rate every bundled model and the demo data use, in Hz.
SAMPLE_RATE = 16_000

#: Name under which the bundled offline demo model is loaded.
DEMO_MODEL_NAME = "demo"

#: Environment variable naming the cache root (KenLM builders, downloaded models).
CACHE_ENV = "SPEECHCUSTOM_CACHE"

#: Environment variable naming a folder that holds ``lmplz`` and ``build_binary``.
KENLM_BIN_ENV = "SPEECHCUSTOM_KENLM_BIN"

#: The command that installs the KenLM builders.
SETUP_COMMAND = "speechcustom setup"

#: The KenLM programs the toolkit runs.
KENLM_BUILDERS = ("lmplz", "build_binary")

#: kenlm sdist version whose sources the builders are compiled from.
KENLM_VERSION = "0.3.0"

#: Utterances per acoustic-model batch.
BATCH_SIZE = 8
