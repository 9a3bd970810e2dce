module github.com/initbox/initbox

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.50.0
)

require go.uber.org/multierr v1.10.0 // indirect
