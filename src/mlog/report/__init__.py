"""The report pages: chart data from records (data), charts (plots), HTML (page, style)."""
