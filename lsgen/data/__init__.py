"""Data: the 29 classes, contest layouts (2022/2023), label/image I/O, the synthetic generator."""
