"""Built-in components. Each module is a plugin using only ganbench's public API."""
