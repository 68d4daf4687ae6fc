"""The `pe-portal` command line."""
