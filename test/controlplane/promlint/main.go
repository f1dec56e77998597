// Command promlint checks Prometheus text-format metrics read from stdin: the text must parse
// (prometheus/common's expfmt parser, as Prometheus scrapes it) and pass client_golang's
// promlint rules (the checks of `promtool check metrics`). It prints one line per problem and
// exits 1 when there is any.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	text, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Println("read:", err)
		os.Exit(2)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(string(text))); err != nil {
		fmt.Println("parse:", err)
		os.Exit(1)
	}
	problems, err := promlint.New(strings.NewReader(string(text))).Lint()
	if err != nil {
		fmt.Println("lint:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Printf("%s: %s\n", p.Metric, p.Text)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}
