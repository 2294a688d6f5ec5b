"""A process that converts the real model and is stopped midway, for tests/test_model_partials.py:

    python tests/conversion_child.py GGUF_STAND_IN

`real_model.ensure_model()` with the GGUF check and the conversion itself replaced (the
partial folder's life is under test, not transformers): the conversion writes a file into the
partial folder, prints `CONVERTING <folder>` and waits to be stopped. TOOLPRMBENCH_MODEL_DIR
names the models folder. SIGINT and SIGHUP start at their defaults, whatever was inherited.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    from toolprm_tasks import real_model

    def convert(gguf: Path, target: Path) -> dict:
        (target / "model.safetensors").write_bytes(b"\0" * (1 << 20))
        print(f"CONVERTING {target}", flush=True)
        while True:
            time.sleep(0.1)

    real_model._require_gguf_reader = lambda: None
    real_model.verified_gguf = lambda: Path(sys.argv[1])
    real_model._convert = convert
    real_model.ensure_model()
