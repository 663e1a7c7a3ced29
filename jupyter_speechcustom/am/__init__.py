"""Custom acoustic models: audio preparation, pseudo-labels and fine-tuning."""
