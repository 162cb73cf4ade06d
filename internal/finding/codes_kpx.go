package finding

// kubeProxyEntries are the catalogue entries of the kube-proxy checks.
var kubeProxyEntries = []Entry{}
