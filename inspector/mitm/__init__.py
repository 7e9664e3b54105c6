"""mitm"""
