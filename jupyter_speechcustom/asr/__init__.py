"""Recognition on NeMo models: base models and their profiles, model families, decoding, transcripts."""
