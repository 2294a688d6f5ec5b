"""Training a ToolPRM from this package (docs/training.md).

- `splits`: the training and test cases of the rebuilt set (disjoint by conversation cluster)
  or of the official release (its BFCL and ToolSandbox training files);
- `export`: TRL's dataset formats (reward pairs, GRPO prompts, SFT rows) through `datasets`;
- `reward`: the GRPO reward function (TRL's signature), read with the project's one parser;
- `recipes`: `toolprmbench train reward|grpo`, TRL's RewardTrainer and GRPOTrainer with the
  paper's hyper-parameters on a GPU and small settings on a CPU.

Only `recipes` needs the optional `train` extra (TRL); the rest runs on the core install.
"""
