"""The one rule for secrets in what a run logged: never shown in a report or on a terminal.

Model and task arguments are part of a judge's identity, so the report shows them, but a run
can carry credentials there: `--model_args api_key=...` (lm-eval), `-M Authorization=Bearer ...`
(Inspect), a server URL with a password (`https://user:pass@host`) or a token in its query.
Every argument a reader takes goes through `redact` (or `redact_args`): the value of a key that
names a secret is `***`; in any other value, a URL's password, a secret query parameter and an
HTTP credential (`Bearer ...`) are `***`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

HIDDEN = "***"
# argument names whose values are secrets: api_key, hf_token, client_secret, password,
# credentials, Authorization, auth, cookie, signature, ...
SECRET_KEY = re.compile(r"key|token|secret|passw|credential|auth|cookie|signature", re.IGNORECASE)
# scheme://user:PASSWORD@host (the user is kept: it says whose account, not how to use it)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/@:\s]*:)[^/@\s]*@")
# ?api_key=VALUE, &token=VALUE
_QUERY_SECRET = re.compile(r"(?P<head>[?&;][^=&;#\s]*(?:key|token|secret|passw|auth|signature)[^=&;#\s]*=)[^&;#\s]*",
                           re.IGNORECASE)
# an HTTP credential written into a value: "Bearer abc", "Basic dXNlcjpwYXNz"
_CREDENTIAL = re.compile(r"\b(?P<head>(?:Bearer|Basic|Token)\s+)[^\s'\",;}\]]+", re.IGNORECASE)


def redact_text(value: str) -> str:
    """A value with URL passwords, secret query parameters and HTTP credentials hidden."""
    value = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{HIDDEN}@", value)
    value = _QUERY_SECRET.sub(lambda m: f"{m.group('head')}{HIDDEN}", value)
    return _CREDENTIAL.sub(lambda m: f"{m.group('head')}{HIDDEN}", value)


# token words that name no secret: a count (max_tokens, judge_max_tokens, max_new_tokens,
# max_gen_toks, prompt_tokens), the tokenizer, a vocabulary token or its id (add_bos_token,
# prefix_token_id, think_end_token, tokenized_requests); a hidden one made the reproduce command
# run with the text `***` in its place
_NOT_A_SECRET = re.compile(
    r"tokeni[sz](?:er|ed)\w*|tokens\b|tokens(?=_)|(?:max|min)_?\w*?toks?\b|tokens?_ids?"
    r"|(?:bos|eos|pad|unk|sep|cls|mask|prefix|suffix|start|end|stop|special)_tokens?", re.IGNORECASE)


def is_secret_name(key: str) -> bool:
    """Whether an argument's name says its value is a secret (`api_key`, `hf_token`); a token
    count (`max_tokens`) or a tokenizer is none: hidden, the reproduce command was refused."""
    return bool(SECRET_KEY.search(_NOT_A_SECRET.sub("", key)))


def redact(key: str, value: Any) -> str:
    """One argument's value as a report may show it."""
    return HIDDEN if is_secret_name(key) else redact_text(str(value))


def redact_args(args: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): redact(str(key), value) for key, value in args.items()}
