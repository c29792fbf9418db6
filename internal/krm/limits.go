package krm

// Limits bound the work and memory spent reading one package. A package that
// exceeds one gets an error finding; reading never fails because of one.
// The defaults are documented in docs/validation.md.
type Limits struct {
	// FileBytes is the largest file read, in bytes.
	FileBytes int64
	// PackageBytes is the most bytes read from one package, all files included.
	PackageBytes int64
	// PackageFiles is the most files one package may hold.
	PackageFiles int
	// DocumentsPerFile is the most YAML documents one file may hold.
	DocumentsPerFile int
	// NodesPerDocument is the most YAML nodes one document may hold, counted
	// with every alias expanded: it is what stops a "billion laughs" file.
	NodesPerDocument int64
	// Depth is the deepest nesting of mappings and sequences in a document,
	// counted with every alias expanded.
	Depth int
}

// DefaultLimits returns the limits used unless a caller sets others.
func DefaultLimits() Limits {
	return Limits{
		FileBytes:        2 << 20,  // above the 1.5 MiB Kubernetes accepts per object
		PackageBytes:     32 << 20, // all files of one package
		PackageFiles:     10000,
		DocumentsPerFile: 1000,
		NodesPerDocument: 250000,
		Depth:            100,
	}
}
