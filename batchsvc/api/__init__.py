"""HTTP API blueprints."""
