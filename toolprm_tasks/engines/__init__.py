"""Scoring engines for local PRMs: one interface (`base.ScoringEngine`), engines per runtime.

`hf.HFEngine` (transformers: small models, the reference) and `vllm_engine.VLLMEngine` (the
fast path). Not yet: a server mode.
"""
