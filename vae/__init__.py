"""vae package (see ../shared/ARCHITECTURE.md)."""
