"""The ways in: the portal's HTTP API, the ops command line, and the one client they share."""
