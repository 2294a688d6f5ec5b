"""The error types the metrics are broken down by: the paper's Fig. 3 taxonomy as metric slugs
(metric names are `acc_<slug>`). Part of the scoring core: the cases use it, never the reverse."""

ERROR_TYPE_SLUGS: tuple[str, ...] = (
    "wrong_tool",
    "wrong_params",
    "should_chat",  # should chat but called a tool
    "should_call",  # should call a tool but chatted
    "other",  # an error type string outside the taxonomy (kept raw in the case)
    "unlabeled",  # the record has no error type
)

