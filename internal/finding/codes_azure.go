package finding

// azureEntries are the catalogue entries of the Azure outbound-path checks.
var azureEntries = []Entry{}
