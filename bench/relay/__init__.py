"""How much does the relay add? chatsite's Daphne worker against the fake upstream directly.

See bench/README.md for the scenarios, the targets and the latest figures.
"""
