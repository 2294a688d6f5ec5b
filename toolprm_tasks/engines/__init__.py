"""Scoring engines for local PRMs: one interface (`base.ScoringEngine`), engines per runtime.

Work in progress (issue: vLLM backend). Here so far: the interface, the prompt format per
kind of model, the truncation rule, and the HF transformers engine.
"""
