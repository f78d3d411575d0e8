"""What a running turn holds of its owner's budgets until it is settled."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Reservation(models.Model):
    """The worst case of one running turn, counted against every budget of its owner.

    Written in the transaction that starts the turn and deleted in the one that
    charges its real usage (or by the sweeper once its worker is gone), so the
    ledger plus the reservations never let two turns share the last of a
    budget. A later API-key scope is one more nullable foreign key here and in
    the ledger.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reservations"
    )
    # The turn's first answer; its siblings (n > 1) are listed in `answers`.
    message = models.OneToOneField(
        "conversations.Message", on_delete=models.CASCADE, related_name="reservation"
    )
    answers = models.JSONField(default=list)
    model = models.ForeignKey(
        "conversations.ModelConfig", null=True, blank=True, on_delete=models.SET_NULL
    )
    model_name = models.CharField(max_length=200)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=6, default=Decimal(0))
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("budget reservation")
        verbose_name_plural = _("budget reservations")

    def __str__(self) -> str:
        return f"{self.user} {self.tokens} tokens"
