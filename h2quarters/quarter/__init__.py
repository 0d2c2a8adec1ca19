"""The Wesertor quarter: buildings on a low-voltage grid, hydrogen supply chain, studies and reports."""
