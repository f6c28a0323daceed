"""The analytics dashboard: admin login, overview, charts, tables and session pages."""
