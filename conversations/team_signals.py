"""Keep teams in step with groups (registered in apps.py).

- Every new group is a team: staff keep creating groups in the admin, and
  invitations, quotas and persona sharing keep naming groups.
- Someone who leaves a group, however it happens (the team page, the admin,
  single sign-on's group mapping), loses their role in its team.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from conversations.models import Team, TeamRole

User = get_user_model()


@receiver(post_save, sender=Group, dispatch_uid="team_for_new_group")
def create_team_for_group(sender, instance: Group, created: bool, raw: bool = False, **kwargs):
    if created and not raw:
        Team.objects.get_or_create(group=instance)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="team_role_on_leave")
def drop_roles_of_leavers(sender, instance, action: str, reverse: bool, pk_set, **kwargs):
    if action not in ("post_remove", "pre_clear"):
        return
    roles = TeamRole.objects.all()
    if reverse:  # group.user_set.remove(users...) / clear()
        roles = roles.filter(team__group=instance)
        if action == "post_remove":
            roles = roles.filter(user__in=pk_set)
    else:  # user.groups.remove(groups...) / clear()
        roles = roles.filter(user=instance)
        if action == "post_remove":
            roles = roles.filter(team__group__in=pk_set)
    roles.delete()
