"""
Response comparison: production's responses (type 2) against staging's
replayed responses (type 3), paired by request id.
"""
