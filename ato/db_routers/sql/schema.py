"""The seed's import path for 2.1.7's record types: ``from ato.db_routers.sql.schema import Experiment``.

2.1.7's SQLAlchemy rows map to Ato's detached records in :mod:`ato.projections.queries`, which
carry 2.1.7's field names: ``Project`` is Project, ``Experiment`` is :class:`Run`, ``Metric`` is
:class:`MetricPoint`, ``Artifact`` and ``Fingerprint`` are themselves. 2.1.7's ``Base`` (the
SQLAlchemy declarative base) has no counterpart: Ato does not use SQLAlchemy.
"""

from ato.projections.queries import Artifact, Fingerprint, Project
from ato.projections.queries import MetricPoint as Metric
from ato.projections.queries import Run as Experiment

__all__ = ["Artifact", "Experiment", "Fingerprint", "Metric", "Project"]
