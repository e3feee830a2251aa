"""Stand-ins for remote services: NHTSA vPIC + recalls, and a manufacturer warranty/registration site.

Both are real HTTP servers (stdlib, a thread per request) with fault injection.
They import nothing of Baygate's: their VIN logic is their own.
"""
