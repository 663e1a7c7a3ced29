"""Scoring and showing results: WER/CER with alignments, per-term hit rates, HTML diffs, charts, reports."""
