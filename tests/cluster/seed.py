"""People for a cluster's database, made with the ORM, signed in by session cookies.

Runs where Django is set up with the cluster's settings: in scripts and
benchmarks directly, from tests (whose Django is set up on the test database)
as `python -m tests.cluster.seed alice bob`, which prints JSON.
"""

import argparse
import json


def signed_in(usernames: list[str], password: str | None = None) -> dict[str, str]:
    """Create the users (with `password`, or none usable: hashing is slow) → session cookies."""
    from django.contrib.auth.models import User

    made = [User(username=name) for name in usernames]
    for user in made:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
    User.objects.bulk_create(made)
    users = User.objects.filter(username__in=usernames)
    return {user.username: session_cookie(user) for user in users}


def session_cookie(user) -> str:
    """A signed-in session for `user`, as the browser's cookie would carry it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("usernames", nargs="+")
    parser.add_argument("--password")
    args = parser.parse_args()
    import django

    django.setup()
    print(json.dumps(signed_in(args.usernames, args.password)))


if __name__ == "__main__":
    main()
