"""URLs of single sign-on; chatsite/urls.py puts them first when OIDC_ISSUER is set."""

from django.urls import path
from mozilla_django_oidc.views import OIDCLogoutView

from conversations.views import sso, sso_link

urlpatterns = [
    path("accounts/login/", sso.login_page, name="login"),
    path("oidc/authenticate/", sso.SignInStart.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.SignInCallback.as_view(), name="oidc_authentication_callback"),
    # Signs out of chatsite only (POST), as /accounts/logout/ does; the provider's
    # session is its own.
    path("oidc/logout/", OIDCLogoutView.as_view(), name="oidc_logout"),
    path("oidc/link/", sso_link.link_account, name="sso_link"),
]
