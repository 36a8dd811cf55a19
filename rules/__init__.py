"""Pure domain rules (no I/O, no clock, no settings): imported alike by the workflows, the
activities, the API and the CLI, so each rule and its wording exist once."""
