"""domaintune."""
