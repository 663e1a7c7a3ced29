"""Real-browser tests of the Studio (JupyterLab 4 + Chromium)."""
