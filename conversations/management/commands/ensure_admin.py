import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a first admin account when there is none, and print how to sign in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/accounts/login/")

    def handle(self, *args, username: str, url: str, **options) -> None:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write(f"Sign in at {url} with your admin account.")
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the first admin account.\n"
                f"  Sign in at {url}\n  username: {username}\n  password: {password}\n"
                f"(Shown once: change it after signing in, at /admin/password_change/.)"
            )
        )
