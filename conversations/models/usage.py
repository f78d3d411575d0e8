"""The usage ledger: tokens and cost per user, day and model."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# What the usage report groups by, as lookups from a ledger row.
DIMENSIONS = {
    "user": "user__username",
    "team": "user__groups__name",  # a user in two teams counts in both
    "model": "model_name",
    "day": "day",
    "purpose": "purpose",
}


def _sums() -> dict:
    return {
        "requests_sum": Sum("requests"),
        "prompt": Sum("prompt_tokens"),
        "completion": Sum("completion_tokens"),
        "reasoning": Sum("reasoning_tokens"),
        "estimated_prompt": Sum("estimated_prompt_tokens"),
        "estimated_completion": Sum("estimated_completion_tokens"),
        "cost_sum": Sum("cost"),
    }


class UsageQuerySet(models.QuerySet):
    def between(self, start, end) -> "UsageQuerySet":
        return self.filter(day__gte=start, day__lte=end)

    def totals(self) -> dict:
        """Sums over the rows (zeros when there are none)."""
        return {name: value or 0 for name, value in self.aggregate(**_sums()).items()}

    def grouped_by(self, dimension: str):
        """One row of sums per user, team, model or day: dicts with a ``key``."""
        rows = self.values(key=F(DIMENSIONS[dimension])).annotate(**_sums())
        if dimension == "day":
            return rows.order_by("key")
        return rows.order_by(-(F("prompt") + F("completion")), "key")

    def charge(
        self,
        *,
        user_id: int,
        model,
        model_name: str,
        prompt: int,
        completion: int,
        estimated: bool,
        reasoning: int = 0,
        purpose: str = "chat",
        images: int = 0,
    ) -> None:
        """Add one request's tokens and cost to today's row for the user and model.

        ``reasoning`` is the part of ``completion`` spent reasoning: recorded, not added.
        """
        cost = model.cost(prompt, completion) if model else Decimal(0)
        if model and images:
            cost += model.price_per_image * images
        row, _created = self.get_or_create(
            user_id=user_id, day=timezone.localdate(), model_name=model_name, purpose=purpose,
            defaults={"model": model},
        )  # fmt: skip
        self.filter(pk=row.pk).update(
            requests=F("requests") + 1,
            prompt_tokens=F("prompt_tokens") + prompt,
            completion_tokens=F("completion_tokens") + completion,
            reasoning_tokens=F("reasoning_tokens") + reasoning,
            estimated_prompt_tokens=F("estimated_prompt_tokens") + (prompt if estimated else 0),
            estimated_completion_tokens=F("estimated_completion_tokens")
            + (completion if estimated else 0),
            cost=F("cost") + cost,
            images=F("images") + images,
        )


class UsageDaily(models.Model):
    class Purpose(models.TextChoices):
        CHAT = "chat", _("answers")
        TITLE = "title", _("automatic titles")
        MODERATION = "moderation", _("moderation checks")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage"
    )
    day = models.DateField()
    model = models.ForeignKey(
        "conversations.ModelConfig", null=True, blank=True, on_delete=models.SET_NULL
    )
    model_name = models.CharField(max_length=200)
    # What the requests were for: answers, or the automatic titles (shown apart).
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.CHAT)
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    # The part of completion_tokens a reasoning model spent thinking.
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    # The part of the counts above that was estimated rather than reported.
    estimated_prompt_tokens = models.PositiveBigIntegerField(default=0)
    estimated_completion_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=6, default=Decimal(0))
    images = models.PositiveIntegerField(_("images generated"), default=0)

    objects = UsageQuerySet.as_manager()

    class Meta:
        ordering = ["-day", "user"]
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day", "model_name", "purpose"], name="one_usage_row_per_purpose"
            )
        ]
        indexes = [models.Index(fields=["day"], name="usage_day")]

    def __str__(self) -> str:
        return f"{self.user} {self.day} {self.model_name}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
