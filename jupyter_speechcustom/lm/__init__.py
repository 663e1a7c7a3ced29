"""Custom language models: KenLM builders and token-level n-gram models in a base model's token space."""
