"""Analysis of stored responses: tallies, perception-gap statistics, charts and exports."""
