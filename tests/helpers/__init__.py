"""Code the tests share: small generated inputs (audio, archives, model folders) and clients.

Test modules import from here (``from helpers.audio import tone``); pytest puts ``tests/`` on the
path because ``tests/conftest.py`` is a root-level conftest without a package around it.
"""
