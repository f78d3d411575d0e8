"""HTTP middleware of our own: the Content-Security-Policy header."""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Sends the strict policy of settings.CONTENT_SECURITY_POLICY on every page.

    Model output is rendered in the page; the policy is the second line of
    defence behind the sanitiser (no inline script, no eval, no remote loads).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response
