"""Fine-tuning from the admin: checking training files, jobs, their poller, registration.

- ``jsonl``: streams a JSONL file from disk and checks every line (chat format,
  tokens with tiktoken); no Django models.
- ``hyper``: the seeds' rules for a job's suffix and hyperparameters.
- ``build``: a training file from chosen conversations (the export's lines).
- ``service``: upload, delete, create, cancel, each audited.
- ``poller``: the cluster-wide poller, one lease per job, and registration.
"""
