"""One module per equation family; each module docstring states its PDE and signs."""
