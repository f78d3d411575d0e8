"""The usage page: tokens and cost per user, team, model and day, from the ledger.

The ledger (``UsageDaily``) holds one row per user, day and model, written by
every chat turn; the page only sums it. "Estimated" tokens are those counted
with tiktoken because the provider reported no usage.
"""

import csv
import datetime
from dataclasses import dataclass, field

from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conversations.admin.lists import ReadOnlyAdminMixin
from conversations.models import UsageDaily
from conversations.models.usage import DIMENSIONS

DEFAULT_DAYS = 30
RANGE_DAYS_MAX = 400
ROWS_MAX = 200
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 760, 200, 64, 22
DIMENSION_LABELS = {
    "user": _("user"),
    "team": _("team"),
    "model": _("model"),
    "day": _("day"),
    "purpose": _("purpose"),
}


@dataclass
class ReportRow:
    key: object
    requests: int
    prompt: int
    completion: int
    estimated: int
    cost: object
    share: float = 0.0  # of the largest row's tokens, 0-100, for the bar

    @property
    def tokens(self) -> int:
        return self.prompt + self.completion

    @property
    def exact(self) -> int:
        return self.tokens - self.estimated


def _row(values: dict) -> ReportRow:
    return ReportRow(
        key=values["key"],
        requests=values["requests_sum"] or 0,
        prompt=values["prompt"] or 0,
        completion=values["completion"] or 0,
        estimated=(values["estimated_prompt"] or 0) + (values["estimated_completion"] or 0),
        cost=values["cost_sum"] or 0,
    )


@dataclass
class Bar:
    x: float
    width: float
    exact_y: float
    exact_height: float
    estimated_y: float
    estimated_height: float
    row: ReportRow


@dataclass
class UsageReport:
    start: datetime.date
    end: datetime.date
    group: str
    username: str = ""
    team: str = ""
    model: str = ""
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query) -> "UsageReport":
        today = timezone.localdate()
        end = _date(query.get("end")) or today
        start = _date(query.get("start")) or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
        report = cls(start, end, query.get("group") if query.get("group") in DIMENSIONS else "user")
        report.username = query.get("user", "").strip()
        report.team = query.get("team", "").strip() if query.get("team", "").isdigit() else ""
        report.model = query.get("model", "").strip()
        report._clamp()
        return report

    def _clamp(self) -> None:
        if self.start > self.end:
            self.start, self.end = self.end, self.start
        if (self.end - self.start).days >= RANGE_DAYS_MAX:
            self.start = self.end - datetime.timedelta(days=RANGE_DAYS_MAX - 1)
            note = gettext("The range was shortened to %(days)s days.") % {"days": RANGE_DAYS_MAX}
            self.notes.append(note)

    def ledger(self):
        rows = UsageDaily.objects.between(self.start, self.end)
        if self.username:
            rows = rows.filter(user__username=self.username)
        if self.team:
            rows = rows.filter(user__groups__pk=self.team)
        if self.model:
            rows = rows.filter(model_name=self.model)
        return rows

    def rows(self, limit: int | None = ROWS_MAX) -> list[ReportRow]:
        grouped = self.ledger().grouped_by(self.group)
        rows = [_row(values) for values in (grouped[:limit] if limit else grouped)]
        if self.group == "purpose":  # "title" → "automatic titles"
            labels = dict(UsageDaily.Purpose.choices)
            for row in rows:
                row.key = labels.get(row.key, row.key)
        biggest = max((r.tokens for r in rows), default=0)
        for row in rows:
            row.share = round(100 * row.tokens / biggest, 1) if biggest else 0.0
        return rows

    def totals(self) -> ReportRow:
        sums = self.ledger().totals()
        return _row({"key": None, **sums})

    def chart(self) -> list[Bar]:
        """One stacked bar per day of the range: exact tokens, estimated on top."""
        by_day = {values["key"]: _row(values) for values in self.ledger().grouped_by("day")}
        length = (self.end - self.start).days + 1
        days = [self.start + datetime.timedelta(days=i) for i in range(length)]
        rows = [by_day.get(day) or ReportRow(day, 0, 0, 0, 0, 0) for day in days]
        peak = max((r.tokens for r in rows), default=0) or 1
        step = (CHART_WIDTH - CHART_LEFT) / len(rows)
        plot = CHART_HEIGHT - CHART_BOTTOM
        bars = []
        for index, row in enumerate(rows):
            exact_height = plot * row.exact / peak
            estimated_height = plot * row.estimated / peak
            exact_y = plot - exact_height
            bars.append(
                Bar(
                    x=round(CHART_LEFT + index * step + step * 0.1, 2),
                    width=round(max(step * 0.8, 0.5), 2),
                    exact_y=round(exact_y, 2),
                    exact_height=round(exact_height, 2),
                    estimated_y=round(exact_y - estimated_height, 2),
                    estimated_height=round(estimated_height, 2),
                    row=row,
                )
            )
        return bars


def _date(text) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(text) if text else None
    except ValueError:
        return None


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.register(UsageDaily)
class UsageDailyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The changelist is the report; ledger rows are written by chat turns only."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = UsageReport.from_query(request.GET)
        if request.GET.get("format") == "csv":
            return self._csv(report)
        bars = report.chart()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Usage"),
            "report": report,
            "rows": report.rows(),
            "totals": report.totals(),
            "bars": bars,
            "peak": max((bar.row.tokens for bar in bars), default=0),
            "chart": {
                "width": CHART_WIDTH,
                "height": CHART_HEIGHT,
                "left": CHART_LEFT,
                "plot_bottom": CHART_HEIGHT - CHART_BOTTOM,
            },
            "dimensions": [(key, DIMENSION_LABELS[key]) for key in DIMENSIONS],
            "group_label": DIMENSION_LABELS[report.group],
            "teams": _teams(),
            "query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/conversations/usagedaily/report.html", context)

    def _csv(self, report: UsageReport) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        header = [report.group, "requests", "prompt_tokens", "completion_tokens", "total_tokens"]
        header += ["estimated_tokens", "exact_tokens", "cost"]

        def lines():
            yield writer.writerow(header)
            for row in report.rows(limit=None):
                key = _csv_safe(row.key if row.key is not None else "")
                yield writer.writerow(
                    [key, row.requests, row.prompt, row.completion, row.tokens, row.estimated,
                     row.exact, row.cost]
                )  # fmt: skip

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        name = f"chatsite-usage-{report.group}-{report.start}-{report.end}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def _csv_safe(value) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; usernames may."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _teams() -> list[tuple[int, str]]:
    return list(Group.objects.order_by("name").values_list("pk", "name"))
