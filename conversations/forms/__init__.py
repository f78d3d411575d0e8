"""Forms by concern: ``params`` (the chat parameters as fields), ``personas``,
``providers`` (the admin's model form) and ``accounts`` (sign-up, settings)."""
