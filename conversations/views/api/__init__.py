"""JSON endpoints of the chat page (signed-in users only, like every page)."""
