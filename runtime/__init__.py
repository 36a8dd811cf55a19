"""Process-level plumbing shared by the worker, the starter and the dev stack: settings,
logging and the Temporal client. Never imported by workflow code."""
