"""diffusion package (see ../shared/ARCHITECTURE.md)."""
