"""What an ADict shows in a notebook or a rich console: its keys as a nested table (see
:mod:`ato.display` for the bounds and the escaping). Its ``repr``/``str`` stay a dict's, as in
ato 2.1.7; only ``_repr_html_`` and ``__rich__`` use this."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ato.config.structural_hash import structural_hash
from ato.display import View, config_grid

if TYPE_CHECKING:
    from ato.config.adict import ADict

__all__ = ["adict_view"]


def adict_view(config: ADict) -> View:
    """The config's keys, nested (the first :data:`~ato.display.CONFIG_ROWS`, the rest counted),
    how many there are at the top, whether it is frozen, and its structural hash."""
    frozen = " (frozen)" if config.is_frozen else ""
    fields = [("keys", f"{len(config):,}{frozen}")]
    try:
        shape = structural_hash(config)
    except (RecursionError, TypeError, ValueError) as exc:  # a config that contains itself, say
        shape = f"(not computed: {type(exc).__name__})"  # the table is still worth showing
    fields.append(("structural hash", shape))
    return View("ADict", fields, [config_grid(config, title="")])
