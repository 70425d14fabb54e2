"""What the sync derives from the warehouse at publication and the console reads.

Shared by `sync/` (which builds the derived tables once per published snapshot) and
`console/` (which reads them, and builds them itself for an older warehouse without
them). It imports only the standard library: the sync may import nothing of the console.
"""
