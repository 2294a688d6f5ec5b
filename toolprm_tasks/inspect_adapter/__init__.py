"""The Inspect side: tasks, model providers, the scorer, the search task; one `keys.py`."""
