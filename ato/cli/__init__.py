"""The ``ato`` command: a thin layer that parses arguments, calls the library, and prints.

One module per command family: :mod:`~ato.cli.runs` (``ato runs``), :mod:`~ato.cli.replay`
(``ato replay``), :mod:`~ato.cli.diff` (``ato diff``), :mod:`~ato.cli.maintenance` (``ato
rebuild``, ``verify``, ``merge``, ``import``), :mod:`~ato.cli.schema` (``ato schema``);
:mod:`~ato.cli.main` builds the parser and maps errors to exit statuses, :mod:`~ato.cli.output`
prints tables and JSON, :mod:`~ato.cli.outputs` defines every ``--json`` output as msgspec
structs (the published schema) and :mod:`~ato.cli.json_values` how values are written in it.

May import: tracking, projections, hyperopt, config, storage, errors. Nothing imports the CLI.
"""

from ato.cli.main import main

__all__ = ["main"]
