"""Config files: each defines get_config() and starts with the command that runs it."""
