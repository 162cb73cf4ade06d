package analyze

// All returns every analyzer, in the order they run. This is the one
// registration table: add a new analyzer here.
func All() []Analyzer {
	return []Analyzer{}
}
