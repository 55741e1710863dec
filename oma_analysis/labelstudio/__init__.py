"""Everything that talks to Label Studio (through label-studio-sdk): server, users, projects,
push and pull. Analysis modules never import from here: they work on exported files."""
