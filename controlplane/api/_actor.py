"""Who made a change. For now the X-Weir-Actor header; authentication will replace this seam."""

from typing import Annotated

from fastapi import Depends, Header

DEFAULT_ACTOR = "operator"


def _actor(
    x_weir_actor: Annotated[
        str | None,
        Header(min_length=1, max_length=128, description="recorded as the change's actor"),
    ] = None,
) -> str:
    return x_weir_actor or DEFAULT_ACTOR


Actor = Annotated[str, Depends(_actor)]
"""An endpoint parameter of this type receives the actor of the request."""
