"""The seed's import path for its command tokenizer (``from ato.parser import parse_command``).
It lives in :mod:`ato.config.command_line`: tokenising only, values stay data."""

from ato.config.command_line import (
    parse_backtick_string,
    parse_bracketed_value,
    parse_command,
    parse_value,
)

__all__ = ["parse_backtick_string", "parse_bracketed_value", "parse_command", "parse_value"]
