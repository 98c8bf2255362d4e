"""Plain data and Plotly figures for the pages: charts, progress, compare, data preview."""
