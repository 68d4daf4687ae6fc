"""Extended user information and preferences."""
