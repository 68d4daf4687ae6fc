"""Message rendering and delivery (SMTP, or `.eml` files in development)."""
