"""How many deploys the running worker's code has seen (bench/decade/deploy.py): module
state passed through the workflow sandbox, set while no worker runs."""

deployed = 0
