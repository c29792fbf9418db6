package main

import "testing"

func TestParseBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"1073741824", 1 << 30}, {"1Gi", 1 << 30}, {"1GiB", 1 << 30}, {" 256Mi ", 256 << 20}, {"512MiB", 512 << 20}, {"2G", 2e9},
	} {
		if got, err := parseBytes(tt.in); err != nil || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "lots", "-1Gi", "0", "1.5", "1GB", "1e30"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}
