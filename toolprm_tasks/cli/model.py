"""`toolprmbench model smollm2`: the real model as a plain HF folder (`toolprm_tasks.real_model`).

    toolprmbench model smollm2            # convert once (about a minute on two cores), then reuse
    toolprmbench model smollm2 --force    # convert again

The last line printed is the folder, for `--model_args pretrained=...`, `-M model_path=...`
and `toolprm-vllm//...`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from toolprm_tasks import real_model
from toolprm_tasks.cli.common import say
from toolprm_tasks.core.safe_text import visible

MODELS = ("smollm2",)


def run(args: argparse.Namespace) -> int:
    try:
        existed = real_model.model_path().is_dir() and not args.force
        folder = real_model.ensure_model(force=args.force)
        manifest = real_model.check_folder(folder)
    except real_model.RealModelError as exc:
        print(f"toolprmbench model: {visible(exc)}", file=sys.stderr)
        return 2
    check = manifest["verification"]
    print(f"SmolLM2-135M-Instruct ({manifest['quantisation']}; {real_model.PACKAGE} {real_model.PACKAGE_VERSION}, "
          f"GGUF sha256 {real_model.GGUF_SHA256[:16]} verified)")
    print(("reused the verified folder" if existed else "converted") +
          f": logits equal the GGUF model's within {check['tolerance']} (max difference "
          f"{check['max_abs_logit_diff']:.2g}); same token ids: {check['same_token_ids']}")
    if args.json:
        print(json.dumps(manifest, indent=2))
    say(folder)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("model", help="the real model (SmolLM2-135M-Instruct) as a plain HF folder",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=MODELS)
    parser.add_argument("--force", action="store_true", help="convert again even if the folder exists")
    parser.add_argument("--json", action="store_true", help="also print the folder's manifest")
    parser.set_defaults(fn=run)
