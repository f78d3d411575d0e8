from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from conversations.views import accounts

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/invite/<str:token>/", accounts.accept_invitation, name="accept_invitation"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("conversations.urls")),
]

if settings.OIDC_ISSUER:  # single sign-on: its sign-in page comes before Django's
    from conversations import sso_urls

    urlpatterns = sso_urls.urlpatterns + urlpatterns
