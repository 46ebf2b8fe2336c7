"""The library behind `python -m smat.report`: what a report reads (`cells`), its arms
(`groups`), its numbers (`analysis`, over smat.statistics), its text (`markdown`), figures
(`plots`), and writing it all (`write`)."""
