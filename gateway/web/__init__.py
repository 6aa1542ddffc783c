"""The pages: server-rendered HTML with CSRF-protected forms."""
