"""Loss families: one private module per family, each ending with a ``LOSSES`` tuple of records."""
