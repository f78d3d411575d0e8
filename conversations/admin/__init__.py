"""Django admin: providers and models, personas, history review, audit log, usage.

Each module registers its own ModelAdmins; see docs/admin.md for how staff use them.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from conversations.admin import (
    accounts,
    finetune_files,
    finetune_jobs,
    governance,
    history,
    personas,
    providers,
    sso,
    teams,
    usage,
)
from conversations.admin.providers import ProviderForm

__all__ = [
    "ProviderForm",
    "accounts",
    "finetune_files",
    "finetune_jobs",
    "governance",
    "history",
    "personas",
    "providers",
    "sso",
    "teams",
    "usage",
]

admin.site.site_header = _("chatsite administration")
admin.site.site_title = _("chatsite admin")
admin.site.index_title = _("Administration")
