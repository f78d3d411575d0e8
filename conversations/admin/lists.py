"""Changelist helpers that stay fast on big tables: counts, text and date filters."""

import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


class ReadOnlyAdminMixin:
    """Rows written only by the product (audit log, usage ledger, persona versions)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EstimatedCountPaginator(Paginator):
    """Counts that never read a whole big table.

    ``COUNT(*)`` reads every row it counts. For the unfiltered list on
    PostgreSQL the planner's row estimate (kept fresh by autovacuum) is as good
    for paging; a filtered or searched list is counted up to ``COUNT_CAP``
    and shown as "10,000+" beyond it.
    """

    EXACT_BELOW = 10_000
    COUNT_CAP = 10_000
    estimated = False
    capped = False

    @cached_property
    def count(self) -> int:
        estimate = self._estimate()
        if estimate is not None and estimate >= self.EXACT_BELOW:
            self.estimated = True
            return estimate
        if not isinstance(self.object_list, QuerySet):
            return super().count
        counted = self.object_list.order_by()[: self.COUNT_CAP + 1].count()
        self.capped = counted > self.COUNT_CAP
        return min(counted, self.COUNT_CAP)

    def _estimate(self) -> int | None:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or queryset.query.where:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return row[0] if row and row[0] >= 0 else None


class InputFilter(admin.ListFilter):
    """A filter typed into a small form, for values too many to list (users, personas)."""

    template = "admin/conversations/input_filter.html"
    # (parameter, label, input type) of each input
    inputs: tuple[tuple[str, str, str], ...] = ()

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name, _label, _kind in self.inputs:
            if name in params:
                value = params.pop(name)[-1].strip()
                if value:
                    self.used_parameters[name] = value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [name for name, _label, _kind in self.inputs]

    def choices(self, changelist):
        own = set(self.expected_parameters())
        kept = [
            (name, value)
            for name, values in changelist.filter_params.items()
            if name not in own
            for value in values
        ]
        yield {
            "fields": [
                {"name": n, "label": label, "type": kind, "value": self.used_parameters.get(n, "")}
                for n, label, kind in self.inputs
            ],
            "hidden": kept,
            "clear_url": changelist.get_query_string(remove=own) if self.used_parameters else "",
        }

    def queryset(self, request, queryset):
        if not self.used_parameters:
            return queryset
        return self.filter(queryset, self.used_parameters)

    def filter(self, queryset, values: dict):
        raise NotImplementedError


class OwnerFilter(InputFilter):
    title = _("user")
    inputs = (("owner", _("Username"), "text"),)

    def filter(self, queryset, values):
        return queryset.filter(owner__username=values["owner"])


class PersonaNameFilter(InputFilter):
    title = _("persona")
    inputs = (("persona_name", _("Name contains"), "text"),)

    def filter(self, queryset, values):
        return queryset.filter(persona__name__icontains=values["persona_name"])


class DateRangeFilter(InputFilter):
    """From and to (inclusive) on a date-time field, as index-friendly ranges."""

    field = "updated"

    def filter(self, queryset, values):
        start_name, end_name = self.expected_parameters()
        if start_name in values:
            queryset = queryset.filter(**{f"{self.field}__gte": _midnight(values[start_name])})
        if end_name in values:
            next_day = _midnight(values[end_name]) + datetime.timedelta(days=1)
            queryset = queryset.filter(**{f"{self.field}__lt": next_day})
        return queryset


class LastActivityFilter(DateRangeFilter):
    title = _("last activity")
    inputs = (("active_from", _("From"), "date"), ("active_to", _("To"), "date"))


class CreatedFilter(DateRangeFilter):
    title = _("date")
    field = "created"
    inputs = (("created_from", _("From"), "date"), ("created_to", _("To"), "date"))


def _midnight(text: str) -> datetime.datetime:
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise IncorrectLookupParameters(f"Not a date: {text!r}") from None
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
