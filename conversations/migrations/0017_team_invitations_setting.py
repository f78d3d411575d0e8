
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0016_audit_actor_kept'),
    ]

    operations = [
        migrations.AddField(
            model_name='sitesettings',
            name='team_invitations_create_accounts',
            field=models.BooleanField(default=True, help_text="Team owners and admins may invite people who have no account yet. Off: their invitations bring in people who have one, and only staff's create accounts.", verbose_name='team invitations create accounts'),
        ),
    ]
