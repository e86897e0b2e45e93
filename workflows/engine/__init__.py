"""The lifecycle engine: declarative specs executed by one generic Temporal workflow."""
