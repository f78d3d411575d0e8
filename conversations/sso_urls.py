"""URLs of single sign-on; chatsite/urls.py puts them first when OIDC_ISSUER is set."""

from django.urls import path

from conversations.views import sso

urlpatterns = [
    path("accounts/login/", sso.login_page, name="login"),
    path("oidc/authenticate/", sso.SignInStart.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.SignInCallback.as_view(), name="oidc_authentication_callback"),
]
