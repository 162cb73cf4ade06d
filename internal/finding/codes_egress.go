package finding

// egressEntries are the catalogue entries of the egress checks.
var egressEntries = []Entry{}
