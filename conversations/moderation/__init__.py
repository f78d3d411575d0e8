"""Moderation: the moderations endpoint checks a message before the model sees it.

Where it runs (docs/protocol.md, "Moderation"): ``start_turn`` stores the
user message and its answer rows as always and, when the persona or the site
asks for a check, puts a ``Check`` on the plan (policy.py). The turn's own
task runs the check before the upstream call (gate.py, async, off the start
transaction and never blocking the loop). A flagged message ends the turn
`moderated` (record.py: one transaction for the message, the flag, the audit
row and the usage); a failed check ends it with an error (fail closed) or
lets it through flagged "unchecked" (fail open). With ``moderate_answers``
the finished answer is checked too and its conversation flagged, the answer
left as it is. No write happens per token.
"""
