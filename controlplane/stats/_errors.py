"""How a stats source says it has nothing to give."""


class SourceUnavailable(Exception):
    """The source could not be read (or gave nothing): verdicts become inconclusive."""
