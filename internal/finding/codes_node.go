package finding

// nodeEntries are the catalogue entries of the node checks.
var nodeEntries = []Entry{}
