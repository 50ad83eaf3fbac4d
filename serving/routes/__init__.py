"""HTTP routes, one module per area; ``serving.app`` mounts them."""
