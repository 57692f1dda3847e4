"""
HTTP replay: C{--output-http}, the HTTP modifiers and C{--input-http}.
"""
