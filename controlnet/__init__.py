"""controlnet package (see ../shared/ARCHITECTURE.md)."""
