"""Load through the cluster of docs/deployment.md: see __main__.py."""
