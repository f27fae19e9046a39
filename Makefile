# Every container start runs this binary twice (the runtime and the init,
# docs/design.md), so its start-up cost counts twice: link it statically (no
# dynamic loader, no libseccomp.so lookup) and leave out urfave/cli's
# man/markdown generators, whose package init alone costs ~2 ms.
GO_TAGS    := urfave_cli_no_docs netgo osusergo
GO_LDFLAGS := -linkmode external -extldflags -static -X main.gitCommit=$(shell git describe --always --dirty 2>/dev/null || echo dev)
OUT        ?= nsrun

.PHONY: nsrun test
nsrun:
	go build -tags "$(GO_TAGS)" -ldflags "$(GO_LDFLAGS)" -o $(OUT) .

test:
	tests/run-all.sh
