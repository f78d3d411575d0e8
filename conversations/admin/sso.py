"""Single sign-on identities: which provider person each account is bound to.

Read only; deleting one unbinds the account, so that its next single sign-on
links by verified email again (e.g. after the provider re-created the person).
"""

from django.contrib import admin

from conversations.models import SsoIdentity


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "issuer", "subject", "created"]
    list_filter = ["issuer"]
    search_fields = ["user__username", "user__email", "subject"]
    readonly_fields = ["user", "issuer", "subject", "created"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
