"""The compiled C kernels (built by setup.py; loaded through `mixedfx.native`)."""
