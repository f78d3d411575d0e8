"""The HTTP doors, one module per thing served: the chat page, accounts,
personas, media (avatar images), the health check and the JSON API.

Every view requires a signed-in user unless marked ``login_not_required``
(see settings). Views fetch objects through ``conversations.access`` and keep
their logic thin; nothing below the views imports from here.
"""
