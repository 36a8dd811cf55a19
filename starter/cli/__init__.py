"""The command line of ops and the demo: `python -m starter <command>`."""
