"""Files in and out: audio decoding and resampling, NeMo manifests, safe uploads and archives, atomic writes."""
