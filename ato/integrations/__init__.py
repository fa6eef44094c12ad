"""Links between Ato and the frameworks practitioners already use, one module per framework,
each an optional extra imported only when its module is (``import ato`` imports none of them)."""
