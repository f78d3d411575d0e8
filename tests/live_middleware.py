"""Test-only middleware for the live workers (tests.live_settings).

Between browser tests the test database is flushed and its content types are
made again under new ids, while a live worker keeps the old ids in Django's
in-process ContentType cache: the admin's change log then writes a row whose
content type no longer exists and the save fails. Each request starts from an
empty cache instead.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.contenttypes.models import ContentType


class ForgetFlushedCaches:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        ContentType.objects.clear_cache()  # memory only: safe on the event loop
        return self.get_response(request)
