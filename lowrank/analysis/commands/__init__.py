"""The subcommands of ``lowrank-bench``, one module each; ``common`` holds what they share."""
