"""X2Edit PyTorch reference: rebuild, train (MoE-LoRA) and export fixtures for the Rust runtime.

Run `python -m train.export_fixtures` from the repository root to regenerate tests/fixtures/.
"""
