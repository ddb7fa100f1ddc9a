"""evaluation package (see ../shared/ARCHITECTURE.md)."""
