"""What the sync derives from the warehouse at publication and the console reads.

Shared by `sync/` (which builds the derived tables once per published snapshot) and
`console/` (which reads them, and builds them itself for an older warehouse without
them); and how a reader holds a published file so that the sync never writes into it
(`holding`: the console's connections and the snapshot server). It imports only the
standard library: the sync may import nothing of the console.
"""
