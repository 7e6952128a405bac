"""The duty manager's briefing (``hotline report``): volume vs forecast, hot incidents, alerts,
cases at risk and the classification review queue, as of a day, as XLSX or one HTML file.

Kept out of ``forecasting``: it reads the event store (predictions, complaints) as well as the
forecaster and the survival model, and it is presentation (spreadsheets, HTML, charts) on top of
:func:`forecasting.summary.decision_summary`, whose numbers it repeats. Nothing imports it but
the CLI.
"""

from reports.briefing import Briefing, build_briefing
from reports.render import write_briefing

__all__ = ["Briefing", "build_briefing", "write_briefing"]
