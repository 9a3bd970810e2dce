module github.com/initbox/initbox/bench

go 1.26
