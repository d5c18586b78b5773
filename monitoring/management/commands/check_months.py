"""`manage.py check_months`: check production months against the active models, here and now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crossline.domain import MONTH_MESSAGE, parse_month
from crossline.numbers import percent
from monitoring.checks import check_months
from monitoring.models import MonthCheck, Verdict


class Command(BaseCommand):
    help = "Check production months for input drift and estimated performance of active models."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--month", type=str, action="append", default=[], metavar="YYYY-MM",
            help="A production month to check (repeatable); default: every month that is due.",
        )
        parser.add_argument(
            "--kind", type=str, action="append", default=[], metavar="KIND",
            help="Only this model kind, e.g. fail or group_2 (repeatable).",
        )
        parser.add_argument(
            "--force", action="store_true",
            help="Check the months again even when nothing changed since their last check.",
        )

    def handle(self, *args, month: list[str], kind: list[str], force: bool, **options) -> None:
        bad = [m for m in month if parse_month(m) is None]
        if bad:
            raise CommandError(f"Not a month: {', '.join(bad)}. {MONTH_MESSAGE}")
        written = check_months(months=month or None, kinds=kind or None, force=force)
        if not written:
            self.stdout.write("Nothing to check: no month is due (or no active version has a "
                              "drift reference; --force checks again).")
            return
        for check in sorted(written, key=lambda c: (c.month, c.type_model != "fail",
                                                    c.type_model)):
            self.stdout.write(self.line(check))
        alarms = sum(c.drift == Verdict.ALARM for c in written)
        self.stdout.write(f"{len(written)} checks, {alarms} with a drift alarm.")

    @staticmethod
    def line(check: MonthCheck) -> str:
        """One check in a line: month, version, vehicles, drift, estimated performance."""
        drift = check.get_drift_display()
        if check.drifted_share is not None and check.drift != Verdict.TOO_FEW:
            drift += f" ({percent(check.drifted_share)} of {len(check.considered)} columns)"
        estimate = check.estimate or {}
        performance = check.get_performance_display()
        if estimate:
            performance += (
                f", precision {percent(estimate.get('precision'))}, "
                f"recall {percent(estimate.get('recall'))}"
            )
        return (
            f"{check.month} {check.model_name:<18} {check.vehicles:>7,} vehicles  "
            f"drift: {drift}  performance: {performance}"
        )
