"""Which person at the sign-in provider an account belongs to."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SsoIdentity(models.Model):
    """The provider's own id for a person (issuer + subject), bound to one account.

    Email only finds the account at the first single sign-on; after that the
    subject does. An address the provider later gives to someone else (a reused
    mailbox, a renamed colleague) then opens nobody's account but its owner's.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    created = models.DateTimeField(_("linked"), auto_now_add=True)

    class Meta:
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique"),
            models.UniqueConstraint(fields=["user", "issuer"], name="sso_one_identity_per_issuer"),
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.issuer}"
