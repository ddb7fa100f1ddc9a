"""gan package (see ../shared/ARCHITECTURE.md)."""
