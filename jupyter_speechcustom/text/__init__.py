"""Text: normalization to a model's alphabet, corpora and their statistics, custom words."""
