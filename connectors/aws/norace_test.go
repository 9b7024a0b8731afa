//go:build !race

package aws_test

const raceEnabled = false
