"""One module per group of pages (a router each); docs/web.md says how to add one."""
