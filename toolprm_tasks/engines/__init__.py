"""Scoring engines for local PRMs: one interface (`base.ScoringEngine`), engines per runtime.

`hf.HFEngine` (transformers: small models, the reference), `vllm_engine.VLLMEngine` (the fast
path, in process) and `vllm_server.VLLMServerEngine` (the same through a vLLM server);
`factory.make_engine` builds one from an adapter's options.
"""
