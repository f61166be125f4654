"""Authentication logic without HTTP: who the caller is and what they may do.

Nothing in this package imports aiohttp or ComfyUI, so every rule here can be tested in
isolation and reused by the command-line administration tool.
"""
