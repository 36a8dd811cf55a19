"""The data contracts shared by every side (API, workflows, activities). No I/O here."""
