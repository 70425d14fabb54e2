"""How values are shown to people and exported: money (`money`), untrusted text and times
(`text`), and metric tables and CSV files (`tables`)."""
