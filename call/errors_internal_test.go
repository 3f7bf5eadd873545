package call

import (
	"testing"

	"github.com/callsig/callsig/internal/core"
)

// Every refusal the core can report has its sentinel, and no two codes
// share one: errors.Is on a refused command names the rule that refused it.
func TestEveryCodeHasItsSentinel(t *testing.T) {
	seen := map[error]core.Code{}
	for code := core.Passed + 1; code < core.NumCodes; code++ {
		err := sentinels[code]
		if err == nil {
			t.Errorf("code %d has no sentinel", code)
			continue
		}
		if other, ok := seen[err]; ok {
			t.Errorf("codes %d and %d share the sentinel %v", other, code, err)
		}
		seen[err] = code
	}
	if sentinels[core.Passed] != nil {
		t.Error("Passed has a sentinel")
	}
}
