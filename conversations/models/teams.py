"""Teams and the roles inside them.

A team is a Django auth Group (personas are shared with groups, quotas and
invitations name groups); ``Team`` gives it a public id and holds its roles.
A member is a user in the group without a ``TeamRole`` row; owners and admins
have one. The rules about who may do what live in conversations/teams.py.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.ids import uuid7


class TeamQuerySet(models.QuerySet):
    def for_user(self, user) -> "TeamQuerySet":
        """The teams the user belongs to (nothing for someone signed out)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(group__user=user)


class Team(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="team")
    created = models.DateTimeField(auto_now_add=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["group__name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.group.name

    @property
    def name(self) -> str:
        return self.group.name


class TeamRole(models.Model):
    """An owner or admin of a team; members have no row."""

    class Role(models.TextChoices):
        OWNER = "owner", _("owner")
        ADMIN = "admin", _("admin")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_roles"
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)

    class Meta:
        verbose_name = _("team role")
        verbose_name_plural = _("team roles")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_role_per_team_member")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"
