"""Built-in components. Each module is a plugin registered through the same hooks, marker and
``register`` callable a third-party package uses (it may also use ganbench's own helpers)."""
